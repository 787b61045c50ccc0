import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Level, Logger } from 'pino';
import { metrics } from './metrics.js';

export interface RequestLoggingOptions {
  /**
   * Level of the line for an answer below 400 (default 'info'). A subgraph that only our gateway calls may
   * say 'debug': the gateway logs and measures every client operation, and the jobs' events record what a
   * submit did. Answers of 400 and above, and requests that failed or were cut off, stay at 'info'.
   */
  successLevel?: Extract<Level, 'info' | 'debug'>;
}

/**
 * Longest url an access-log line keeps (cut with `…`, its length in `req.urlLength`): a GET /graphql carries its
 * document and variables in the query string, up to Node's 16 KiB header limit, and every request (refused ones
 * too) writes a line.
 */
export const MAX_LOGGED_URL_LENGTH = 1024;

const loggedUrl = (url: string): { url: string; urlLength?: number } =>
  url.length <= MAX_LOGGED_URL_LENGTH
    ? { url }
    : { url: `${url.slice(0, MAX_LOGGED_URL_LENGTH)}…`, urlLength: url.length };

const isProbe = (url: string) => url === '/metrics' || url.startsWith('/health/');

/**
 * The refusals of the HTTP layer by their answer's status, whoever decided them (the gateway's key check and rate
 * limit, a subgraph's caller check, the admin UI, the body steps, node's own 408): a fixed set of four, so the
 * label stays bounded; the app is the `service` label every series carries.
 */
const REFUSAL_REASONS: Readonly<Record<number, string>> = {
  401: 'unauthenticated',
  408: 'request_timeout',
  413: 'body_too_large',
  429: 'rate_limited',
};
const refused = metrics.counter({
  name: 'switchyard_http_requests_refused_total',
  help: 'HTTP requests refused before they were served: 401, 408, 413, 429',
  labelNames: ['reason'],
});

/**
 * Access log with a request id (taken from x-request-id when given, echoed back); probes are not logged. Also
 * counts the refusals (`switchyard_http_requests_refused_total`), where each answer's final status is known.
 * One line per request when it ends, with the fields pino-http wrote (`req` {id, method, url (cut: see
 * MAX_LOGGED_URL_LENGTH)}, `res`
 * {statusCode}, `responseTime`, and `err` for a failed one; messages 'request completed' / 'request errored').
 * Hand-written rather than pino-http, which built two child loggers (serializing and redacting `req`) per
 * request even when the line's level was off — about 5 % of a subgraph's CPU per request.
 */
export function requestLogging(logger: Logger, options: RequestLoggingOptions = {}) {
  const successLevel = options.successLevel ?? 'info';
  return (req: IncomingMessage & { id?: string }, res: ServerResponse, next: () => void): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    req.id = id;
    res.setHeader('x-request-id', id);
    // method and url as they arrived (express rewrites req.url inside mounted routers)
    const { method, url = '' } = req;
    // probes are not logged, but a refused scrape (the gateway's /metrics without an admin key) is counted
    const probe = isProbe(url);
    const startedAt = Date.now();
    let logged = false;
    const done = (err?: Error) => {
      if (logged) return;
      logged = true;
      res.removeListener('close', done);
      res.removeListener('finish', done);
      // Cut off by node before the answer was done (the line is written at the first of finish and close): its
      // own answer (408 when the request took longer than HTTP_REQUEST_TIMEOUT_MS to arrive) never passes
      // through `res`, whose statusCode says 200, or what a step tried to answer on the destroyed socket.
      const cutOff = nodeRefusal(req);
      if (cutOff) err ??= cutOff.err;
      const statusCode = cutOff?.statusCode ?? res.statusCode;
      const reason = REFUSAL_REASONS[statusCode];
      if (reason) refused.inc({ reason });
      if (probe) return;
      const failed = err !== undefined || statusCode >= 500;
      const level = failed || statusCode >= 400 || !res.writableFinished ? 'info' : successLevel;
      if (!logger.isLevelEnabled(level)) return;
      const fields = {
        req: { id, method, ...loggedUrl(url) },
        res: { statusCode },
        ...(failed
          ? { err: errorFields(err ?? new Error(`failed with status code ${res.statusCode}`)) }
          : {}),
        responseTime: Date.now() - startedAt,
      };
      logger[level](fields, failed ? 'request errored' : 'request completed');
    };
    res.on('close', done);
    res.on('finish', done);
    next();
  };
}

function errorFields(e: Error): { type: string; message: string; code?: string; stack?: string } {
  const code = (e as { code?: unknown }).code;
  return { type: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}), stack: e.stack };
}

/** What node answered itself when it destroyed the request's connection with an error it answers (408). */
function nodeRefusal(req: IncomingMessage): { statusCode: number; err: Error } | undefined {
  const err = req.socket?.errored as (Error & { code?: string }) | null | undefined;
  if (err?.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { statusCode: 408, err };
  return undefined;
}
