/** A capped exponential backoff: `baseMs` at step 0, doubling per step, never above `capMs`. */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** The delay before step `step` (0, 1, 2…) without jitter: for a single process (the launcher's restarts). */
export function cappedExponentialMs(step: number, policy: BackoffPolicy): number {
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, Math.min(step, 30)));
}

/**
 * The one backoff of Switchyard's retries and reconnects: capped exponential with "equal jitter" (half of the
 * delay fixed, half random), so many clients that failed together spread out yet none comes back at once.
 */
export function backoffDelayMs(
  step: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exp = cappedExponentialMs(step, policy);
  return Math.round(exp / 2 + random() * (exp / 2));
}
