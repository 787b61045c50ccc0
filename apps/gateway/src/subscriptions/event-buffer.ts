/**
 * What one subscriber has received from upstream but not yet consumed. Bounded: once the subscriber is
 * half the capacity behind, a newer progress report of a node replaces the queued ones of that node
 * (progress is a level, not a delta), at the back so delivery order stays by sequence; a subscriber that
 * keeps up sees every event. Terminal events are always queued.
 * Nothing else is ever dropped: if the buffer still overflows, the subscription ends with an error naming the last delivered cursor, so the
 * client can resume instead of silently missing events.
 */
export interface BufferedItem<T> {
  value: T;
  /** Items with the same key supersede one another while queued (NODE_PROGRESS of one node); null: never. */
  coalesceKey: string | null;
}

export type BufferRead<T> = { kind: 'value'; value: T } | { kind: 'end' } | { kind: 'error'; error: unknown };

export class BufferOverflow extends Error {
  constructor(readonly capacity: number) {
    super(`subscriber fell more than ${capacity} events behind`);
    this.name = 'BufferOverflow';
  }
}

export class EventBuffer<T> {
  private readonly items: BufferedItem<T>[] = [];
  private ended = false;
  private failure: { error: unknown } | null = null;
  private waiter: (() => void) | null = null;
  /** Count of items replaced by a newer one (for metrics). */
  coalesced = 0;

  /** Queue length from which progress coalesces. */
  readonly coalesceFrom: number;

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new Error('buffer capacity must be at least 1');
    this.coalesceFrom = Math.max(1, Math.floor(capacity / 2));
  }

  get size(): number {
    return this.items.length;
  }

  /**
   * Returns false when the item could not be queued (buffer closed, or overflowed: the buffer is then failed).
   * `essential` items (terminal events) are queued even past capacity: they end the stream anyway.
   */
  push(value: T, coalesceKey: string | null, essential = false): boolean {
    if (this.ended || this.failure) return false;
    if (coalesceKey !== null && this.items.length >= this.coalesceFrom) {
      for (let i = this.items.length - 1; i >= 0; i--) {
        if (this.items[i]!.coalesceKey !== coalesceKey) continue;
        this.items.splice(i, 1);
        this.coalesced++;
      }
    }
    if (this.items.length >= this.capacity && !essential) {
      this.fail(new BufferOverflow(this.capacity));
      return false;
    }
    this.items.push({ value, coalesceKey });
    this.wake();
    return true;
  }

  /** No more items will come; queued ones are still delivered. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Delivers queued items first, then the error (terminal events queued before a failure are not lost). */
  fail(error: unknown): void {
    if (this.failure || this.ended) return;
    this.failure = { error };
    this.wake();
  }

  async read(): Promise<BufferRead<T>> {
    for (;;) {
      const next = this.items.shift();
      if (next) return { kind: 'value', value: next.value };
      if (this.failure) return { kind: 'error', error: this.failure.error };
      if (this.ended) return { kind: 'end' };
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}
