import type { JobEvent } from '#libs/contracts';
import { CoalescingQueue } from '#libs/backpressure';

/**
 * The events waiting for one subscriber, under the shared backpressure policy (CoalescingQueue: past half
 * its capacity a NODE_PROGRESS replaces the undelivered ones of the same node). No event is ever dropped
 * here: when the buffer is full the reader stops reading and resumes from the stream once the subscriber
 * has caught up.
 */
export class SubscriberBuffer {
  private readonly queue: CoalescingQueue<JobEvent>;

  constructor(readonly capacity: number) {
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

  /** Adds an event; the caller checks `full` before reading more. */
  push(event: JobEvent): void {
    this.queue.push(event, event.type === 'NODE_PROGRESS' ? (event.nodeId ?? '') : null);
  }

  shift(): JobEvent | undefined {
    return this.queue.shift();
  }
}
