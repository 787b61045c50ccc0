export interface BackoffPolicy {
  /** Delay before the second attempt (the first retry). */
  baseMs: number;
  capMs: number;
}

/**
 * Delay before the retry that follows `failures` failed attempts: exponential, capped, with "equal jitter"
 * (half fixed, half random) so retries of many nodes that failed together spread out but never come at once.
 */
export function retryDelayMs(
  failures: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  return Math.round(exp / 2 + random() * (exp / 2));
}
