/**
 * The subscriber-backpressure policy shared by the jobs subgraph and the gateway: one subscriber's undelivered
 * events, bounded by `capacity`. Once the queue is half full (pressure), a newer item replaces the queued ones
 * with the same coalescing key (NODE_PROGRESS of one node: progress is a level, not a delta), appended at the
 * back so delivery stays in sequence order; a subscriber that keeps up sees every event. Nothing else is ever
 * dropped: what happens at capacity is the owner's choice (the jobs subgraph stops reading its stream, the
 * gateway ends the subscription with a cursor to resume from).
 */
export class CoalescingQueue<T> {
  private readonly items: Array<{ value: T; key: string | null }> = [];
  /** Items replaced by a newer one with the same key (for metrics). */
  coalesced = 0;
  /** Queue length from which items coalesce. */
  readonly coalesceFrom: number;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new Error('a subscriber buffer needs a capacity of at least 1');
    this.coalesceFrom = coalesceFrom(capacity);
  }

  get size(): number {
    return this.items.length;
  }

  get full(): boolean {
    return this.items.length >= this.capacity;
  }

  /**
   * Appends `value` after coalescing (null `key`: never coalesces). Does not check the capacity: the owner
   * decides what `full` means for it.
   */
  push(value: T, key: string | null): void {
    this.coalesce(key);
    this.append(value, key);
  }

  /**
   * Under pressure, removes the queued items with this key (a newer one is about to be appended); returns them
   * (an owner that accounts for what it holds gives their share back).
   */
  coalesce(key: string | null): T[] {
    const removed: T[] = [];
    if (key === null || this.items.length < this.coalesceFrom) return removed;
    for (let i = this.items.length - 1; i >= 0; i--) {
      if (this.items[i]!.key !== key) continue;
      removed.push(this.items.splice(i, 1)[0]!.value);
      this.coalesced++;
    }
    return removed;
  }

  append(value: T, key: string | null): void {
    this.items.push({ value, key });
  }

  shift(): T | undefined {
    return this.items.shift()?.value;
  }

  /** Empties the queue; returns what it held, in order. */
  clear(): T[] {
    return this.items.splice(0).map((item) => item.value);
  }
}

/** Half the capacity (at least 1): the queue length where pressure starts. */
export const coalesceFrom = (capacity: number): number => Math.max(1, Math.floor(capacity / 2));
