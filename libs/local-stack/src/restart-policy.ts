export interface RestartPolicyOptions {
  /** More restarts than this within `windowMs` is a crash loop: stop instead of restarting again. */
  maxRestarts: number;
  windowMs: number;
  /** First delay; doubles with each restart still inside the window, capped at `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export type RestartDecision =
  | {
      action: 'restart';
      delayMs: number;
      /** restarts inside the window, this one included */ recent: number;
    }
  | { action: 'give-up'; recent: number };

/**
 * An orchestrator's restart policy for one process (Kubernetes' CrashLoopBackOff, OTP's intensity/period):
 * restart after a growing delay, give up when it keeps crashing. Pure: time comes in as an argument.
 */
export class RestartPolicy {
  private restarts: number[] = [];

  constructor(private readonly o: RestartPolicyOptions) {}

  onExit(now: number): RestartDecision {
    this.restarts = this.restarts.filter((t) => now - t < this.o.windowMs);
    if (this.restarts.length >= this.o.maxRestarts)
      return { action: 'give-up', recent: this.restarts.length };
    this.restarts.push(now);
    const recent = this.restarts.length;
    const delayMs = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (recent - 1));
    return { action: 'restart', delayMs, recent };
  }
}
