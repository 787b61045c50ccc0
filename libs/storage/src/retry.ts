import { backoffDelayMs } from '#libs/redis';
import { StorageAccessDeniedError, StorageError, StorageUnavailableError } from './errors.js';

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * S3_REQUEST_TIMEOUT_MS. A call that moves a body (put, get, copy) fails when no byte moves for this long
   * (progress-timeout.ts, tracked-transport.ts), however long it takes while bytes move; any other call gets
   * this long per try in all. Either way a try that runs out counts as a network failure.
   */
  timeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 100,
  maxDelayMs: 2000,
  timeoutMs: 15000,
};

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'OPERATION_TIMEOUT',
]);
// S3 error codes that mean "the service is struggling", not "your request is wrong".
const TRANSIENT_S3_CODES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'RequestTimeout',
  'RequestTimeTooSkewed',
]);
const ACCESS_S3_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AllAccessDisabled',
]);

const codeOf = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

export function isTransientStorageError(e: unknown): boolean {
  if (e instanceof StorageError) return e.retryable;
  const code = codeOf(e);
  if (code && (NETWORK_CODES.has(code) || TRANSIENT_S3_CODES.has(code))) return true;
  if (e instanceof AggregateError) return e.errors.some(isTransientStorageError);
  // minio's own HTTP retry wrapper and bare socket errors carry no code
  return e instanceof Error && /socket hang up|Retryable HTTP status|other side closed/i.test(e.message);
}

export const isAccessError = (e: unknown): boolean => ACCESS_S3_CODES.has(codeOf(e) ?? '');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The shared backoff (#libs/redis: capped exponential, equal jitter), so replicas do not retry in lockstep. */
export function backoffDelay(
  retry: number,
  p: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  random = Math.random,
): number {
  return backoffDelayMs(retry, { baseMs: p.baseDelayMs, capMs: p.maxDelayMs }, random);
}

function withTimeout<T>(promise: Promise<T>, ms: number, operation: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          Object.assign(new Error(`${operation} took longer than ${ms} ms`), { code: 'OPERATION_TIMEOUT' }),
        ),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface RetryHooks {
  onRetry?(operation: string, attempt: number, error: unknown, delayMs: number): void;
}

/**
 * How a try is bounded: `call`, `policy.timeoutMs` for the whole try (small metadata calls); `progress`, not
 * here but by the try itself, which fails when no byte moves for that long (calls that move a body, whose
 * length grows with the object's size).
 */
export type TryBound = 'call' | 'progress';

/**
 * Runs `fn` up to `policy.attempts` times while it fails with network-like errors; then throws
 * StorageUnavailableError. Access errors become StorageAccessDeniedError; other errors pass through. Each try
 * gets a signal that aborts (with the error) when the try fails or runs out of time, so it can end what it
 * started.
 */
export async function withStorageRetry<T>(
  operation: string,
  fn: (signal: AbortSignal) => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
  bound: TryBound = 'call',
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const tryOver = new AbortController();
    try {
      const result = fn(tryOver.signal);
      return await (bound === 'call' ? withTimeout(result, policy.timeoutMs, operation) : result);
    } catch (e) {
      tryOver.abort(e);
      if (isAccessError(e)) throw new StorageAccessDeniedError(operation, e);
      if (!isTransientStorageError(e) || e instanceof StorageError) throw e;
      if (attempt >= policy.attempts) throw new StorageUnavailableError(operation, e, attempt);
      const delay = backoffDelay(attempt - 1, policy);
      hooks.onRetry?.(operation, attempt, e, delay);
      await sleep(delay);
    }
  }
}
