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
 * Matches completions seen by an observer (QueueEvents, the jobFeed) with the submitters waiting for them.
 * A completion may arrive before its submit call has returned the id, so early arrivals are kept.
 */
export class CompletionTracker {
  private readonly arrived = new Map<string, Outcome>();
  private readonly waiting = new Map<string, (o: Outcome) => void>();

  constructor(private readonly timeoutMs: number) {}

  done(jobId: string): void {
    this.settle(jobId, { ok: true, at: performance.now() });
  }

  fail(jobId: string, reason: string): void {
    this.settle(jobId, { ok: false, reason });
  }

  /** Resolves with the performance.now() at which the job was seen finished. */
  async wait(jobId: string): Promise<number> {
    const early = this.arrived.get(jobId);
    let outcome: Outcome;
    if (early) {
      this.arrived.delete(jobId);
      outcome = early;
    } else {
      let timer: NodeJS.Timeout | undefined;
      outcome = await new Promise<Outcome>((resolve) => {
        this.waiting.set(jobId, resolve);
        timer = setTimeout(() => {
          this.waiting.delete(jobId);
          resolve({ ok: false, reason: `not finished within ${this.timeoutMs} ms` });
        }, this.timeoutMs);
      });
      clearTimeout(timer);
    }
    if (!outcome.ok) throw new BenchJobFailure(jobId, outcome.reason);
    return outcome.at;
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
