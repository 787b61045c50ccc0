import { LoopSlice, type ByteBudgets } from '#libs/backpressure';
import { isTerminalJobStatus, type JobEvent } from '#libs/contracts';
import { JOB_KEYS } from '../scheduler/keys.js';
import { decodeFeedCursor, type FeedPosition } from './event-cursor.js';
import type { EventLog, StoredEvent } from './event-log.js';
import type { ReadOutages } from './read-outages.js';
import { completesOnTerminalJobEvent, StreamFollower } from './stream-follower.js';
import type { Wakeups } from './wakeups.js';

export interface EventSubscriptionsOptions {
  /** Events buffered per subscriber before it is under pressure (half) and before reading pauses (full). */
  bufferCapacity: number;
  /** Each live event handed to a subscriber (the delivery-lag histogram). */
  onDelivered?: (stream: 'job' | 'feed', event: JobEvent) => void;
  /** Live followers wait through a Redis outage of their reads (bounded); none: a failed read ends them. */
  outages?: ReadOutages;
  /**
   * The bytes of events followers may have read ahead of their subscribers, per tenant and in all
   * (SUBSCRIBER_READAHEAD_BYTES_PER_TENANT / _TOTAL): past it a follower holds back until its subscriber takes
   * what it has. None: only `bufferCapacity` bounds them.
   */
  readahead?: ByteBudgets;
}

/** An event of the entry a resumed feed starts in, at or before the one it resumes after. */
const alreadySeen = ({ position, index = 0 }: StoredEvent, seen: FeedPosition): boolean =>
  position === seen.entry && index <= seen.index;

/**
 * How long the followers of one process hand out buffered events before the event loop gets a turn (LoopSlice):
 * a replay of hundreds of events, each executed by graphql-ws as it is handed out, would otherwise hold every
 * other caller of the process for as long as it runs.
 */
const EVENT_SLICE_MS = 5;

/** Opens followers for `jobEvents` and `jobFeed`. Tenancy is checked by the caller. */
export class EventSubscriptions {
  /** One for all the followers: between two slices node reads its sockets (other callers, Redis answers). */
  private readonly slices = new LoopSlice(EVENT_SLICE_MS);

  constructor(
    private readonly log: EventLog,
    private readonly wakeups: Wakeups,
    private readonly opts: EventSubscriptionsOptions,
  ) {}

  /** Every event of the tenant's job after `afterSeq`, live until its terminal JOB_* event. */
  jobEvents(jobId: string, afterSeq: number, tenant: string): Promise<StreamFollower> {
    return new StreamFollower(
      {
        channel: JOB_KEYS.feed(tenant),
        topic: jobId,
        start: async () => `0-${afterSeq}`,
        read: (after, count) => this.log.jobEventsAfter(jobId, Number(after.slice(2)), count, tenant),
        isLast: completesOnTerminalJobEvent,
        delivered: (event) => this.opts.onDelivered?.('job', event),
        ended: async () => {
          const status = await this.log.jobStatus(jobId);
          return status !== null && isTerminalJobStatus(status);
        },
      },
      this.wakeups,
      this.opts.bufferCapacity,
      this.opts.outages,
      this.slices,
      this.opts.readahead?.for(tenant),
    ).open();
  }

  /** A feedCursor for the tenant feed's current end: `jobFeed(after:)` with it starts with the next event. */
  jobFeedHead(tenant: string): Promise<string> {
    return this.log.feedHead(tenant);
  }

  /**
   * The tenant's JOB_* events from now on, or right after the event whose `feedCursor` is `after` (BAD_USER_INPUT
   * when that is no cursor of this feed, or the feed no longer holds what follows it); it never completes by
   * itself.
   */
  async jobFeed(tenant: string, after?: string | null): Promise<StreamFollower> {
    const seen = after ? decodeFeedCursor(after) : undefined;
    const resumeAt = seen ? await this.log.feedResumePosition(tenant, seen, after!) : undefined;
    return new StreamFollower(
      {
        channel: JOB_KEYS.feed(tenant),
        topic: 'feed',
        start: async () => resumeAt ?? (await this.log.feedNow()),
        read: async (from, count) => {
          const events = await this.log.feedAfter(tenant, from, count);
          return seen ? events.filter((e) => !alreadySeen(e, seen)) : events;
        },
        isLast: () => false,
        delivered: (event) => this.opts.onDelivered?.('feed', event),
      },
      this.wakeups,
      this.opts.bufferCapacity,
      this.opts.outages,
      this.slices,
      this.opts.readahead?.for(tenant),
    ).open();
  }
}
