import type { IncomingMessage, ServerResponse } from 'node:http';
import { stopReading } from '#libs/nest-app/unread-body';
import type { Next, Step, StepRequest } from './http-steps.js';

/** `application/json`, optionally with `charset=utf-8` (the only parameter), as a POST's Content-Type. */
const PLAIN_JSON = /^application\/json[ \t]*(?:;[ \t]*charset[ \t]*=[ \t]*(?:utf-8|"utf-8")[ \t]*)?$/i;

/**
 * Whether a request is a POST of `path` (nothing after it but a query string) with an uncompressed UTF-8 JSON
 * body: what `jsonBody` reads exactly as express.json does. Everything else (other paths, methods, media
 * types, charsets, encodings, no body) is left to express.
 */
export function isPlainJsonPost(req: IncomingMessage, path: string): boolean {
  if (req.method !== 'POST') return false;
  const url = req.url ?? '';
  if (!url.startsWith(path) || (url.length > path.length && url[path.length] !== '?')) return false;
  const h = req.headers;
  if (h['content-length'] === undefined && h['transfer-encoding'] === undefined) return false;
  const encoding = h['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  return PLAIN_JSON.test(h['content-type'] ?? '');
}

/** What body-parser's errors carry (http-errors): express's error handlers and Nest's read these fields. */
function httpError<E extends Error>(error: E, status: number, props: Record<string, unknown>): E {
  return Object.assign(error, { status, statusCode: status, expose: status < 500, ...props });
}

/**
 * The body of a request `isPlainJsonPost` admitted, as `express.json({ limit })` (body-parser 2, strict) reads
 * it: the same `req.body` (an empty body is `{}`, a UTF-8 BOM is dropped) and the same errors for express's
 * error handlers: 413 `entity.too.large` (before reading when Content-Length says so, else as soon as the limit
 * is passed), 400 `entity.parse.failed` (a SyntaxError; the strict check's message built as body-parser builds
 * it), 400 `request.aborted` / `request.size.invalid`. Without body-parser's media-type, charset and decoder
 * machinery, which the admitted requests do not need. Unlike body-parser, a body refused for its size is not
 * read off before the error goes on (`stopReading`): body-parser would read all of it, however large.
 */
export function jsonBody(limitBytes: number): Step {
  return (req, res, next) => {
    if (!('body' in req)) req.body = undefined;
    const tooLarge = declaredTooLarge(req, limitBytes);
    if (tooLarge) {
      stopReading(req, res);
      return next(tooLarge);
    }
    const declared = req.headers['content-length'];
    const length = declared === undefined ? null : Number(declared);
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('aborted', onAborted);
      req.removeListener('error', onError);
      if (error) {
        stopReading(req, res);
        return next(error);
      }
      try {
        req.body = parseStrict(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
      } catch (e) {
        return next(httpError(e as Error, 400, { type: 'entity.parse.failed' }));
      }
      next();
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) return settle(passedLimit(limitBytes, received));
      chunks.push(chunk);
    };
    const onEnd = () =>
      settle(
        length !== null && received !== length
          ? httpError(new Error('request size did not match content length'), 400, {
              expected: length,
              length,
              received,
              type: 'request.size.invalid',
            })
          : undefined,
      );
    const onAborted = () =>
      settle(
        httpError(new Error('request aborted'), 400, {
          code: 'ECONNABORTED',
          expected: length,
          length,
          received,
          type: 'request.aborted',
        }),
      );
    const onError = (e: Error) => settle(httpError(e, 400, {}));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onAborted);
    req.on('error', onError);
  };
}

/**
 * 413 `entity.too.large` as body-parser (raw-body) raises it before reading, when the declared Content-Length is
 * over the limit; undefined otherwise.
 */
export function declaredTooLarge(req: IncomingMessage, limitBytes: number): Error | undefined {
  const declared = req.headers['content-length'];
  if (declared === undefined) return undefined;
  const length = Number(declared);
  if (!(length > limitBytes)) return undefined;
  return httpError(new Error('request entity too large'), 413, {
    expected: length,
    length,
    limit: limitBytes,
    type: 'entity.too.large',
  });
}

/** 413 `entity.too.large` as body-parser (raw-body) raises it when a body passes the limit while it streams. */
function passedLimit(limitBytes: number, received: number): Error {
  return httpError(new Error('request entity too large'), 413, {
    limit: limitBytes,
    received,
    type: 'entity.too.large',
  });
}

/**
 * express.json's own parser behind `declaredTooLarge`: a body whose Content-Length is over the limit is refused at
 * once with the error body-parser would raise, without reading it off first as body-parser does (all of it, before
 * it calls next). A chunked body is watched as it streams (`cutOffPastLimit`): once past the limit it is refused
 * at once, the rest unread. `parses` says which requests the parser reads (its `type`): others go to it untouched.
 * A compressed body (`Content-Encoding` gzip, deflate, br) is held to the limit twice: body-parser refuses it once
 * inflated past the limit, and the bytes on the wire are held to it here, as nginx's client_max_body_size does.
 * Else a body that passed the limit only once inflated would be read off by body-parser (its refusal comes after
 * the read-off) for as long as the client sends: with its raw bytes bounded, the read-off is too.
 */
export function boundedBodyParser(
  parser: Step,
  limitBytes: number,
  parses: (req: StepRequest) => boolean,
): Step {
  return (req, res, next) => {
    if (parses(req)) {
      const tooLarge = declaredTooLarge(req, limitBytes);
      if (tooLarge) {
        if (!('body' in req)) req.body = undefined;
        stopReading(req, res);
        return next(tooLarge);
      }
      // node ends a body with a Content-Length at that length: only one without (chunked) can pass the limit
      if (req.headers['content-length'] === undefined)
        return cutOffPastLimit(parser, limitBytes, req, res, next);
    }
    return parser(req, res, next);
  };
}

/**
 * Runs `parser` on an identity-encoded body of unknown length, counting its bytes as they come (raw-body counts
 * the same bytes): once past `limitBytes`, the request is refused with 413 `entity.too.large` as body-parser
 * raises it, and no more of it is read (`stopReading`). body-parser raises the same error but reads off the rest
 * of the body before passing it on, until the body ends or HTTP_REQUEST_TIMEOUT_MS: its own callback, which then
 * comes once the connection is closed, is dropped. Counted after the parser's listener, so that this pause
 * follows body-parser's `req.resume()` (its read-off) and wins over it.
 */
function cutOffPastLimit(
  parser: Step,
  limitBytes: number,
  req: StepRequest,
  res: ServerResponse,
  next: Next,
): void | Promise<void> {
  let received = 0;
  let settled = false;
  const settle = (err?: unknown) => {
    if (settled) return;
    settled = true;
    req.removeListener('data', onData);
    next(err);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received <= limitBytes) return;
    stopReading(req, res);
    settle(passedLimit(limitBytes, received));
  };
  const ran = parser(req, res, settle);
  if (!settled) req.on('data', onData);
  return ran;
}

/** body-parser's strict JSON: an object or an array, `{}` for an empty body. */
function parseStrict(bytes: Buffer): unknown {
  let text = bytes.toString('utf8');
  // body-parser decodes with iconv-lite, which drops a leading byte order mark
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) return {};
  if (text[0] !== '{' && text[0] !== '[') {
    // RFC 7159's whitespace: space, tab, line feed, carriage return
    const first = /^[ \t\n\r]*([^ \t\n\r])/.exec(text)?.[1];
    if (first !== '{' && first !== '[') throw strictSyntaxError(text, first);
  }
  return JSON.parse(text);
}

/** body-parser's strict-mode error: JSON.parse's own message for the text from its first character on. */
function strictSyntaxError(text: string, first: string | undefined): SyntaxError {
  const index = first === undefined ? -1 : text.indexOf(first);
  const partial = index === -1 ? '' : text.substring(0, index) + '#'.repeat(text.length - index);
  try {
    JSON.parse(partial);
    return new SyntaxError('strict violation');
  } catch (e) {
    const error = e as SyntaxError;
    error.message = error.message.replace(/#+/g, (placeholder) =>
      text.substring(index, index + placeholder.length),
    );
    return error;
  }
}
