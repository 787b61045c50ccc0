import type { JobEvent } from '#libs/contracts';

/**
 * The events waiting for one subscriber, bounded. Past half its capacity (pressure) a NODE_PROGRESS event
 * replaces the older undelivered NODE_PROGRESS of the same node (only the latest progress matters); no other
 * type is ever dropped: when the buffer is full the reader stops reading and resumes from the stream when the
 * subscriber has caught up.
 */
export class SubscriberBuffer {
  private readonly items: JobEvent[] = [];
  coalesced = 0;

  constructor(readonly capacity: number) {
    if (capacity < 2) throw new Error('a subscriber buffer needs a capacity of at least 2');
  }

  get size(): number {
    return this.items.length;
  }

  get full(): boolean {
    return this.items.length >= this.capacity;
  }

  /** Adds an event; the caller checks `full` before reading more. */
  push(event: JobEvent): void {
    if (event.type === 'NODE_PROGRESS' && this.items.length >= this.capacity / 2) {
      const older = this.items.findIndex((e) => e.type === 'NODE_PROGRESS' && e.nodeId === event.nodeId);
      if (older >= 0) {
        // drop the older one and append the newer, so delivery stays in seq order
        this.items.splice(older, 1);
        this.coalesced += 1;
      }
    }
    this.items.push(event);
  }

  shift(): JobEvent | undefined {
    return this.items.shift();
  }
}
