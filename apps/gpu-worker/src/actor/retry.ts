import { backoffDelayMs } from '#libs/redis';

/** Retry `fn` with capped exponential backoff until it succeeds or `windowMs` has passed (then rethrow). */
export async function retryWithin<T>(
  windowMs: number,
  fn: () => Promise<T>,
  baseDelayMs = 100,
  maxDelayMs = 2000,
): Promise<T> {
  const deadline = Date.now() + windowMs;
  for (let tries = 1; ; tries++) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() >= deadline) throw e;
      const delay = Math.min(
        backoffDelayMs(tries - 1, { baseMs: baseDelayMs, capMs: maxDelayMs }),
        Math.max(0, deadline - Date.now()),
      );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Resolves with `p`, or with 'timeout' once `ms` have passed (the promise itself keeps running). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
