import { backoffDelayMs, type BackoffPolicy } from '#libs/redis';

export type { BackoffPolicy };

/**
 * Delay before the retry that follows `failures` failed attempts (`baseMs` after the first): the shared
 * capped exponential backoff with equal jitter, so retries of many nodes that failed together spread out.
 */
export function retryDelayMs(
  failures: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  return backoffDelayMs(failures - 1, policy, random);
}
