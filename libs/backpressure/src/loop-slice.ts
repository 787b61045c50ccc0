/**
 * Cooperative time slices for work that runs as a chain of promise callbacks. A subscription's buffered events are
 * handed out by an async iterator whose `next()` resolves at once, so graphql-ws can execute hundreds of them (a
 * replay of 512 events, each resolving a whole job) as one run of microtasks: node reads no socket meanwhile, and
 * every other caller of the process waits for the whole replay (a red-team probe: 90 such replays held another
 * tenant's query 11–30 s and made the scheduler's leader lease lapse).
 *
 * Each such chain asks `pace()` before its next item. Within the slice of the current turn of the event loop it goes
 * on at once; once the slice has run `budgetMs`, it queues, and the queued chains are resumed one per later turn, in
 * the order they queued (round robin), each for up to one slice: between two slices node runs its I/O callbacks. What
 * the browser schedulers do (React's 5 ms slices), for the same reason.
 */
export class LoopSlice {
  /** When the current slice began; -1: none (the next `pace()` opens one). */
  private startedAt = -1;
  private readonly waiting: Array<() => void> = [];
  private driving = false;

  constructor(
    private readonly budgetMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Chains waiting for a slice. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * undefined while the current slice has time left (go on, no await); past it, a promise that resolves at the
   * chain's turn in a later turn of the event loop, with a fresh slice.
   */
  pace(): Promise<void> | undefined {
    if (!this.spent()) return undefined;
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.drive();
    });
  }

  private spent(): boolean {
    const now = this.now();
    if (this.startedAt < 0) {
      this.open(now);
      return false;
    }
    return now - this.startedAt >= this.budgetMs;
  }

  private open(now: number): void {
    this.startedAt = now;
    // the slice ends with this turn of the loop (its check phase): the next turn starts afresh
    setImmediate(() => (this.startedAt = -1));
  }

  /** One queued chain per turn of the loop, after that turn's I/O callbacks. */
  private drive(): void {
    if (this.driving) return;
    this.driving = true;
    setImmediate(() => {
      this.driving = false;
      const resume = this.waiting.shift();
      if (!resume) return;
      this.open(this.now());
      // its continuation runs as soon as this callback returns, for up to one slice
      resume();
      if (this.waiting.length > 0) this.drive();
    });
  }
}
