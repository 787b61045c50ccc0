import type { LoopSlice } from '#libs/backpressure';
import { TERMINAL_JOB_EVENTS, type JobEvent } from '#libs/contracts';
import type { StoredEvent } from './event-log.js';
import type { OutageReader, ReadOutages } from './read-outages.js';
import { markReadTogether } from './read-together.js';
import { SubscriberBuffer } from './subscriber-buffer.js';
import type { Wakeups } from './wakeups.js';

export interface FollowerSource {
  /** The pub/sub channel that announces new entries. */
  channel: string;
  /** The topic of that channel's messages that concerns this stream (see Wakeups); none: every message. */
  topic?: string;
  /** Where to start: entries after this position. */
  start: () => Promise<string>;
  read: (after: string, count: number) => Promise<StoredEvent[]>;
  /** The follower completes after delivering an event this returns true for. */
  isLast: (event: JobEvent) => boolean;
  /**
   * True when the stream has already ended (its last event written): a reader whose position is past that
   * event completes instead of waiting for events that will never come.
   */
  ended?: () => Promise<boolean>;
  /** Called with each event written after open() began, as it is handed to the subscriber (delivery lag). */
  delivered?: (event: JobEvent) => void;
}

export const completesOnTerminalJobEvent = (event: JobEvent): boolean => TERMINAL_JOB_EVENTS.has(event.type);

/**
 * Follows one event stream for one subscriber, as an async iterator: subscribe to the wake-up channel FIRST,
 * then read the backlog after the start position, then read again on every wake-up. Reading always continues
 * from the last position read, so the handover from backlog to live has no gap and no duplicate, and a lost
 * wake-up is made up by the next one. It waits on pub/sub only, except through a Redis outage (ReadOutages): a
 * live follower whose read fails because Redis is unavailable reads again from the same position once it is back,
 * and ends with UNAVAILABLE only past the outage bound.
 */
export class StreamFollower implements AsyncIterableIterator<JobEvent> {
  private position = '';
  private readonly buffer: SubscriberBuffer;
  private reading = false;
  private readAgain = false;
  /** Reading stopped because the buffer was full; the stream holds the rest. */
  private paused = false;
  private sawLast = false;
  private finished = false;
  private failure: unknown;
  private waiter?: () => void;
  private inFlight: Promise<void> = Promise.resolve();
  private unlisten?: () => Promise<void>;
  private openedAt = Date.now();
  /** Set once open: a failed first read still fails the subscribe itself (the client is told at once). */
  private outage?: OutageReader;

  constructor(
    private readonly source: FollowerSource,
    private readonly wakeups: Wakeups,
    capacity: number,
    /** None: any failed read ends the follower. */
    private readonly outages?: ReadOutages,
    /** Shared by the process's followers: a buffered event is handed out within a slice of the loop's turn. */
    private readonly slices?: LoopSlice,
  ) {
    this.buffer = new SubscriberBuffer(capacity);
  }

  /** Subscribes, then reads the backlog. Must resolve before the first next(). */
  async open(): Promise<this> {
    // the position is fixed before subscribing; the first read (after the subscription is confirmed) covers
    // everything appended since, and a wake-up arriving before it only repeats that read
    this.openedAt = Date.now();
    this.position = await this.source.start();
    this.unlisten = await this.wakeups.listen(this.source.channel, () => void this.pump(), this.source.topic);
    await this.pump();
    if (
      !this.sawLast &&
      !this.failure &&
      this.source.ended &&
      (await this.source.ended().catch(() => false))
    ) {
      // ended: its last event is in the stream now, so this read either delivers it or shows it was before us
      await this.pump();
      // a full buffer means the terminal event may still be ahead: later reads get to it
      if (!this.buffer.full) this.sawLast = true;
    }
    if (this.failure) {
      await this.close();
      throw this.failure;
    }
    this.outage = this.outages?.reader(
      () => void this.pump(),
      (error) => {
        this.failure ??= error;
        this.wake();
      },
    );
    return this;
  }

  /** Events that were replaced by a later NODE_PROGRESS under pressure. */
  get coalesced(): number {
    return this.buffer.coalesced;
  }

  /** Reads until the buffer is full or the stream has nothing new; resolves when the read in flight is done. */
  private pump(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.inFlight;
    }
    this.reading = true;
    this.inFlight = this.read();
    return this.inFlight;
  }

  private async read(): Promise<void> {
    let readThrough = false;
    try {
      do {
        this.readAgain = false;
        while (!this.sawLast && !this.finished && !this.buffer.full) {
          const room = this.buffer.capacity - this.buffer.size;
          const asked = Math.min(room, 256);
          const batch = await this.source.read(this.position, asked);
          readThrough = true;
          if (batch.length === 0) break;
          markReadTogether(batch.map((stored) => stored.event));
          for (const { position, event } of batch) {
            this.position = position;
            this.buffer.push(event);
            if (this.source.isLast(event)) {
              this.sawLast = true;
              break;
            }
          }
          // a short batch reached the end: what is appended later comes with its own wake-up (readAgain)
          if (batch.length < asked) break;
        }
      } while (this.readAgain && !this.sawLast && !this.finished);
      this.paused = this.buffer.full;
      if (readThrough) this.outage?.succeeded();
    } catch (e) {
      // an outage: the position stays at the last event delivered, the next read starts after it
      if (!this.finished && !this.outage?.failed(e)) this.failure ??= e;
    } finally {
      this.reading = false;
      this.wake();
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async next(): Promise<IteratorResult<JobEvent>> {
    for (;;) {
      if (this.finished) return { done: true, value: undefined };
      // its slice spent: the event waits for a later turn of the loop (and is looked for again then)
      const turn = this.buffer.size > 0 ? this.slices?.pace() : undefined;
      if (turn) {
        await turn;
        continue;
      }
      const event = this.buffer.shift();
      if (event) {
        // room again: read what waited in the stream while the buffer was full
        if (this.paused && !this.sawLast) void this.pump();
        if (Date.parse(event.at) >= this.openedAt) this.source.delivered?.(event);
        return { done: false, value: event };
      }
      if (this.failure) {
        const failure = this.failure;
        await this.close();
        throw failure;
      }
      if (this.sawLast) {
        await this.close();
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  async return(): Promise<IteratorResult<JobEvent>> {
    await this.close();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<JobEvent>> {
    await this.close();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private async close(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.outage?.close();
    this.wake();
    await this.unlisten?.();
  }
}
