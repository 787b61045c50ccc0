import { AsyncLocalStorage } from 'node:async_hooks';
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import * as http from 'node:http';
import * as https from 'node:https';
import { noProgressError } from './progress-timeout.js';

/** The `request` the minio client calls (its `transport` option; it always passes options and a callback). */
export type Transport = Pick<typeof http, 'request'>;

/** One try of a storage call: every request made inside it, ended when the try is given up. */
interface TryScope {
  readonly signal: AbortSignal;
  readonly open: Set<ClientRequest>;
}

const currentTry = new AsyncLocalStorage<TryScope>();

/**
 * Runs one try so that every request the client makes for it (now, or later from a continuation the try left
 * behind) is destroyed once `signal` aborts: a try that was given up leaves nothing running, so a retry never
 * races it and an abort of its multipart upload cannot be overtaken by one of its parts.
 */
export function runTry<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  const scope: TryScope = { signal, open: new Set() };
  signal.addEventListener(
    'abort',
    () => {
      for (const req of scope.open) req.destroy(signal.reason as Error);
    },
    { once: true },
  );
  return currentTry.run(scope, fn);
}

/**
 * http(s).request for the minio client: a request that moves no byte in either direction for `idleMs` (connect,
 * sending, waiting for the reply after its last byte, reading the body) is destroyed with a no-progress error,
 * which also ends the response stream a reader holds; and each request belongs to the try that made it
 * (`runTry`). The socket's idle clock restarts as the kernel takes bytes, also within one large write (a part
 * of 256 MiB sent in one `end`), as seen on Node 20.
 */
export function trackedTransport(protocol: 'http:' | 'https:', idleMs: number): Transport {
  const base = protocol === 'https:' ? https : http;
  const request = (options: RequestOptions, callback?: (res: IncomingMessage) => void): ClientRequest => {
    const req = base.request(options, callback);
    req.setTimeout(idleMs, () => {
      const err = noProgressError(`${options.method ?? 'GET'} ${options.path ?? ''}`, idleMs);
      // the reader of a body gets the reason, not the bare "aborted" the socket's end would give it
      const res = (req as ClientRequest & { res?: IncomingMessage }).res;
      if (res && !res.complete) res.destroy(err);
      req.destroy(err);
    });
    const scope = currentTry.getStore();
    if (scope) {
      if (scope.signal.aborted) req.destroy(scope.signal.reason as Error);
      else {
        scope.open.add(req);
        req.once('close', () => scope.open.delete(req));
      }
    }
    return req;
  };
  return { request: request as Transport['request'] };
}
