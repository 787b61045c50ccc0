import type { LoopSlice, OwnerBudget } from '#libs/backpressure';
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

/** Events asked of the stream per read. */
const READ_BATCH = 256;
/** ... by a subscriber that has nothing buffered while its tenant's readahead is spent (≈ 68 KB at most). */
const READ_BATCH_OVER_BUDGET = 8;

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
    /** The bytes its tenant's followers may have read ahead (none: only `capacity` bounds it). */
    private readonly readahead?: OwnerBudget,
  ) {
    this.buffer = new SubscriberBuffer(capacity, readahead);
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
      // a read that stopped (a full buffer, or held back by the readahead budget) may have the terminal event
      // still ahead: later reads get to it
      if (!this.paused) this.sawLast = true;
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

  /** Events read and not yet handed to the subscriber. */
  get buffered(): number {
    return this.buffer.size;
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
    let heldBack: boolean;
    try {
      do {
        this.readAgain = false;
        heldBack = false;
        while (!this.sawLast && !this.finished && !this.buffer.full) {
          const room = this.buffer.capacity - this.buffer.size;
          const ask = this.reserve(Math.min(room, READ_BATCH));
          if (!ask) {
            heldBack = true;
            break;
          }
          let batch: StoredEvent[];
          try {
            batch = await this.source.read(this.position, ask.events);
          } finally {
            // what the read brought is counted as the buffer takes it
            this.readahead?.give(ask.bytes);
          }
          readThrough = true;
          // closed meanwhile (close() emptied the buffer): nobody will take what was read
          if (this.finished) break;
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
          if (batch.length < ask.events) break;
        }
      } while (this.readAgain && !this.sawLast && !this.finished);
      this.paused = this.buffer.full || heldBack;
      if (readThrough) this.outage?.succeeded();
    } catch (e) {
      // an outage: the position stays at the last event delivered, the next read starts after it
      if (!this.finished && !this.outage?.failed(e)) this.failure ??= e;
    } finally {
      this.reading = false;
      this.wake();
    }
  }

  /**
   * How many events to ask for, with the bytes they may hold reserved in the tenant's readahead budget (at this
   * stream's mean event size) while the read is in flight, so that followers reading at once do not all see the
   * same room. Halved until it fits; when not even READ_BATCH_OVER_BUDGET fits, a follower with events buffered
   * holds back (null) until its subscriber takes them, and one with nothing reads that many anyway, so every
   * subscriber still moves.
   */
  private reserve(wanted: number): { events: number; bytes: number } | null {
    const budget = this.readahead;
    if (!budget) return { events: wanted, bytes: 0 };
    const mean = this.buffer.meanEventBytes;
    for (let events = wanted; ; events = Math.ceil(events / 2)) {
      if (budget.tryTake(events * mean) === null) return { events, bytes: events * mean };
      if (events <= READ_BATCH_OVER_BUDGET) break;
    }
    if (this.buffer.size > 0) return null;
    const events = Math.min(wanted, READ_BATCH_OVER_BUDGET);
    budget.take(events * mean);
    return { events, bytes: events * mean };
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
    this.buffer.clear();
    this.outage?.close();
    this.wake();
    await this.unlisten?.();
  }
}
