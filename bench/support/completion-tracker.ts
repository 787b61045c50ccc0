import { performance } from 'node:perf_hooks';

/** A job the benchmark waited for failed (or never finished): the run is invalid and stops. */
export class BenchJobFailure extends Error {
  constructor(
    readonly jobId: string,
    reason: string,
  ) {
    super(`job ${jobId}: ${reason}`);
    this.name = 'BenchJobFailure';
  }
}

type Outcome = { ok: true; at: number } | { ok: false; reason: string };

/**
 * Matches "done" seen by an observer (jobFeed, QueueEvents) with the callers waiting for it. A completion may
 * arrive before the submit call has returned the id, so early arrivals are kept. `failAll` (the observer broke)
 * fails every waiter and every later wait: a run with a missing event never passes.
 */
export class CompletionTracker {
  private readonly arrived = new Map<string, Outcome>();
  private readonly waiting = new Map<string, (o: Outcome) => void>();
  private brokenReason: string | null = null;

  constructor(private readonly timeoutMs: number) {}

  done(jobId: string): void {
    this.settle(jobId, { ok: true, at: performance.now() });
  }

  fail(jobId: string, reason: string): void {
    this.settle(jobId, { ok: false, reason });
  }

  failAll(reason: string): void {
    this.brokenReason ??= reason;
    for (const [, resolve] of this.waiting) resolve({ ok: false, reason });
    this.waiting.clear();
  }

  /** Resolves with the performance.now() at which the job was seen done; throws BenchJobFailure otherwise. */
  async wait(jobId: string): Promise<number> {
    const early = this.arrived.get(jobId);
    let outcome: Outcome;
    if (early) {
      this.arrived.delete(jobId);
      outcome = early;
    } else if (this.brokenReason) {
      outcome = { ok: false, reason: this.brokenReason };
    } else {
      let timer: NodeJS.Timeout | undefined;
      outcome = await new Promise<Outcome>((resolve) => {
        this.waiting.set(jobId, resolve);
        timer = setTimeout(() => {
          this.waiting.delete(jobId);
          resolve({ ok: false, reason: `not seen done within ${this.timeoutMs} ms` });
        }, this.timeoutMs);
      });
      clearTimeout(timer);
    }
    if (!outcome.ok) throw new BenchJobFailure(jobId, outcome.reason);
    return outcome.at;
  }

  /** Done events nobody waited for (e.g. jobs of an earlier phase): should be 0 between phases. */
  unclaimed(): number {
    return this.arrived.size;
  }

  private settle(jobId: string, outcome: Outcome): void {
    const waiter = this.waiting.get(jobId);
    if (waiter) {
      this.waiting.delete(jobId);
      waiter(outcome);
    } else {
      this.arrived.set(jobId, outcome);
    }
  }
}
