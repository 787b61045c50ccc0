import type { JobEvent } from '#libs/contracts';
import { CoalescingQueue, type OwnerBudget } from '#libs/backpressure';

/** About the bytes an event holds (its JSON's length, give or take its field names): what readahead is bounded by. */
export const eventBytes = (e: JobEvent): number =>
  96 +
  e.cursor.length +
  (e.feedCursor?.length ?? 0) +
  e.jobId.length +
  e.tenant.length +
  (e.nodeId?.length ?? 0) +
  e.type.length +
  (e.message?.length ?? 0) +
  e.at.length;

/** eventBytes of the largest event a stream may hold (an 8,000-character message and the longest ids). */
export const MAX_EVENT_BYTES = 8_500;

/**
 * The events waiting for one subscriber, under the shared backpressure policy (CoalescingQueue: past half
 * its capacity a NODE_PROGRESS replaces the undelivered ones of the same node). No event is ever dropped
 * here: when the buffer is full the reader stops reading and resumes from the stream once the subscriber
 * has caught up. With a budget (its tenant's readahead bytes), what it holds is also counted there.
 */
export class SubscriberBuffer {
  private readonly queue: CoalescingQueue<JobEvent>;
  private pushedBytes = 0;
  private pushed = 0;

  constructor(
    readonly capacity: number,
    private readonly budget?: OwnerBudget,
  ) {
    if (capacity < 2) throw new Error('a subscriber buffer needs a capacity of at least 2');
    this.queue = new CoalescingQueue(capacity);
  }

  get size(): number {
    return this.queue.size;
  }

  get full(): boolean {
    return this.queue.full;
  }

  get coalesced(): number {
    return this.queue.coalesced;
  }

  /** What an event it was given held on average; before the first, the most one may hold (MAX_EVENT_BYTES). */
  get meanEventBytes(): number {
    return this.pushed === 0 ? MAX_EVENT_BYTES : Math.ceil(this.pushedBytes / this.pushed);
  }

  /** Adds an event (already read: counted whatever the budget); the caller checks `full` before reading more. */
  push(event: JobEvent): void {
    const key = event.type === 'NODE_PROGRESS' ? (event.nodeId ?? '') : null;
    for (const replaced of this.queue.coalesce(key)) this.release(replaced);
    this.queue.append(event, key);
    if (this.budget) {
      const bytes = eventBytes(event);
      this.pushedBytes += bytes;
      this.pushed++;
      this.budget.take(bytes);
    }
  }

  shift(): JobEvent | undefined {
    const event = this.queue.shift();
    if (event) this.release(event);
    return event;
  }

  /** Drops what it holds (its subscriber is gone), giving the bytes back. */
  clear(): void {
    for (const event of this.queue.clear()) this.release(event);
  }

  private release(event: JobEvent): void {
    this.budget?.give(eventBytes(event));
  }
}
