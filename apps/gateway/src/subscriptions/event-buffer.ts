import { CoalescingQueue } from '#libs/backpressure';
import type { BufferBudget } from './buffered-bytes.js';

/**
 * What one subscriber has received from upstream but not yet consumed, under the shared backpressure policy
 * (CoalescingQueue: past half the capacity a node's newer progress replaces its queued ones). Terminal
 * events are always queued. Nothing else is ever dropped: the gateway cannot pause its upstream, so if the
 * buffer still overflows the subscription ends with an error naming the last delivered cursor, and the
 * client can resume instead of silently missing events. With a budget, the bytes of the queued items also count
 * against their key's bound (buffered-bytes.ts): an item that would pass it fails the buffer the same way.
 */

export type BufferRead<T> = { kind: 'value'; value: T } | { kind: 'end' } | { kind: 'error'; error: unknown };

export class BufferOverflow extends Error {
  constructor(readonly capacity: number) {
    super(`subscriber fell more than ${capacity} events behind`);
    this.name = 'BufferOverflow';
  }
}

export interface EventBufferBudget<T> {
  budget: BufferBudget;
  /** The bytes an item holds (counted while it is queued). */
  sizeOf: (item: T) => number;
}

export class EventBuffer<T> {
  private readonly items: CoalescingQueue<T>;
  private ended = false;
  private failure: { error: unknown } | null = null;
  private waiter: (() => void) | null = null;

  constructor(
    readonly capacity: number,
    private readonly bytes?: EventBufferBudget<T>,
  ) {
    this.items = new CoalescingQueue(capacity);
  }

  get size(): number {
    return this.items.size;
  }

  /** Count of items replaced by a newer one (for metrics). */
  get coalesced(): number {
    return this.items.coalesced;
  }

  /**
   * Returns false when the item could not be queued (buffer closed, or overflowed: the buffer is then failed).
   * `essential` items (terminal events) are queued even past capacity: they end the stream anyway.
   */
  push(value: T, coalesceKey: string | null, essential = false): boolean {
    if (this.ended || this.failure) return false;
    // coalescing first: a progress report that replaces a queued one does not overflow
    this.release(this.items.coalesce(coalesceKey));
    if (this.items.full && !essential) {
      this.fail(new BufferOverflow(this.capacity));
      return false;
    }
    if (this.bytes) {
      const size = this.bytes.sizeOf(value);
      if (essential) this.bytes.budget.take(size);
      else {
        const refused = this.bytes.budget.tryTake(size);
        if (refused) {
          this.fail(refused);
          return false;
        }
      }
    }
    this.items.append(value, coalesceKey);
    this.wake();
    return true;
  }

  /**
   * Drops what is queued and gives its bytes back (the reader left: nobody will take them); the buffer then
   * reads as ended.
   */
  discard(): void {
    this.release(this.items.clear());
    this.end();
  }

  private release(items: readonly T[]): void {
    if (!this.bytes) return;
    for (const item of items) this.bytes.budget.give(this.bytes.sizeOf(item));
  }

  private take(): T {
    const value = this.items.shift()!;
    if (this.bytes) this.bytes.budget.give(this.bytes.sizeOf(value));
    return value;
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

  /** What `read` would give at once, or null when it would wait. */
  poll(): BufferRead<T> | null {
    if (this.items.size > 0) return { kind: 'value', value: this.take() };
    if (this.failure) return { kind: 'error', error: this.failure.error };
    if (this.ended) return { kind: 'end' };
    return null;
  }

  async read(): Promise<BufferRead<T>> {
    for (;;) {
      if (this.items.size > 0) return { kind: 'value', value: this.take() };
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
