import { backoffDelayMs } from '#libs/redis';

/**
 * OTP's restart intensity: more than `maxRestarts` restarts within `periodMs` means restarting does not
 * help, so the actor is quarantined instead of restarted again.
 */
export class RestartIntensity {
  private readonly restarts: number[] = [];

  constructor(
    readonly maxRestarts: number,
    readonly periodMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Record one restart; true when the intensity is now exceeded. */
  record(): boolean {
    const t = this.now();
    this.restarts.push(t);
    while (this.restarts.length > 0 && this.restarts[0]! <= t - this.periodMs) this.restarts.shift();
    return this.restarts.length > this.maxRestarts;
  }

  /** Forget every restart (the actor came back from quarantine). */
  reset(): void {
    this.restarts.length = 0;
  }

  /** Restarts inside the current window. */
  get recent(): number {
    const t = this.now();
    return this.restarts.filter((r) => r > t - this.periodMs).length;
  }
}

/** Delay before the n-th consecutive restart (n ≥ 1): the platform's one backoff (#libs/redis). */
export function restartBackoffMs(
  n: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  return backoffDelayMs(Math.max(0, n - 1), { baseMs, capMs: maxMs }, random);
}
