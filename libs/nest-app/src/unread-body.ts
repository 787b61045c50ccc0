import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The one rule for a request body that will not be read (a refusal, or a body step that stopped reading): how
 * much of it node may read off the kept-alive connection to reach the next request, and what the answer says
 * beyond that. bootstrapApp applies it to every answer (`closeIfAnsweredUnread`); the body steps of
 * libs/graphql-http (`stopReading`) apply it where they decide. Its own module, importable as
 * `#libs/nest-app/unread-body` without the rest of nest-app (Nest, tracing).
 */

/**
 * Most of a refused body that an answer may leave for node to read off the kept-alive connection (to reach the
 * next request on it, `req._dump()`). Go's net/http reads up to the same 256 KiB (`maxPostHandlerReadBytes`) and
 * closes the connection beyond it. Reading off a small body costs no more than the client spent sending it,
 * HTTP_REQUEST_TIMEOUT_MS bounds its time, and honest clients keep their pooled connection.
 */
export const MAX_UNREAD_BODY_BYTES = 256 * 1024;

/**
 * How long a connection closed over an unread body stays open after its answer: its write side closes at once (FIN
 * after the answer) and nothing more is read, then the socket closes. Closing a socket with unread bytes makes the
 * kernel send a reset, and a client still sending its body can meet that reset before it has read the answer (its
 * next write fails first, and the answer goes with the connection). Go's net/http waits the same 500 ms
 * (rstAvoidanceDelay); nginx's lingering_close reads on for up to 30 s, which costs what the client chooses to send.
 */
export const UNREAD_CLOSE_DELAY_MS = 500;

/**
 * node's close of a connection after an answer that says `Connection: close` (`socket.destroySoon`: FIN once the
 * answer is written, then close), with UNREAD_CLOSE_DELAY_MS between the two and nothing read meanwhile. Node's
 * http server resumes the socket to read off the refused body (`req._dump()`): it stays paused.
 */
function lingeringDestroySoon(this: Socket): void {
  if (this.writable) this.end();
  this.on('resume', () => void this.pause());
  this.pause();
  let timer: NodeJS.Timeout | undefined;
  const closeLater = () => (timer = setTimeout(() => this.destroy(), UNREAD_CLOSE_DELAY_MS));
  if (this.writableFinished) closeLater();
  else this.once('finish', closeLater);
  this.once('close', () => clearTimeout(timer));
}

/**
 * The answer to `req` closes its connection (`Connection: close`, when its head is not out yet), as
 * `lingeringDestroySoon` does.
 */
function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
  req.socket.destroySoon = lingeringDestroySoon;
}

/** A body that may be too large to read off once refused: over MAX_UNREAD_BODY_BYTES, or of unknown size (chunked). */
export const largeBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined ||
  Number(req.headers['content-length']) > MAX_UNREAD_BODY_BYTES;

/**
 * For a body that will not be read (refused): when a large one (`largeBody`) is still arriving, no more of it is
 * read off the socket and its answer closes the connection; a small one is left for node to read off, and its
 * connection goes on. bootstrapApp's servers close any answer that starts before a large body arrived
 * (`closeIfAnsweredUnread`); this says so where the decision is made, for servers without that rule too.
 */
export function stopReading(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || req.destroyed || !largeBody(req)) return;
  req.pause();
  closeAfterAnswer(req, res);
}

const nodeWriteHead = ServerResponse.prototype.writeHead;

/**
 * `res.writeHead` of a request with a large or chunked body: an answer that starts before the whole body has
 * arrived (a refusal before reading it: 401, 429, 413 on its Content-Length; or a body step that stopped reading)
 * says `Connection: close`, and node closes the connection once the answer is written. Otherwise node would read
 * the rest of the body off the kept-alive connection to reach the next request (`req._dump()`), as body-parser
 * does before it answers: one refused request could make us read up to its declared length, or forever when
 * chunked. nginx also turns keep-alive off for such answers. The connection closes gently (`closeAfterAnswer`).
 */
function writeHeadClosingUnread(this: ServerResponse, ...args: unknown[]): ServerResponse {
  if (!this.req.complete && !this.headersSent) closeAfterAnswer(this.req, this);
  return (nodeWriteHead as (...a: unknown[]) => ServerResponse).apply(this, args);
}

/**
 * Makes `res` close its connection when it is answered before the request's large body (`largeBody`) has
 * arrived. A small body (up to MAX_UNREAD_BODY_BYTES, the same bound as `stopReading`'s) keeps its connection:
 * a refusal is often answered before the parser has reached a body that came in the same packet as the headers,
 * so `req.complete` alone would close nearly every one.
 */
export function closeIfAnsweredUnread(req: IncomingMessage, res: ServerResponse): void {
  if (largeBody(req)) res.writeHead = writeHeadClosingUnread;
}
