import { isTerminalJobStatus, type JobEvent } from '#libs/contracts';
import { JOB_KEYS } from '../scheduler/keys.js';
import type { EventLog } from './event-log.js';
import { completesOnTerminalJobEvent, StreamFollower } from './stream-follower.js';
import type { Wakeups } from './wakeups.js';

export interface EventSubscriptionsOptions {
  /** Events buffered per subscriber before it is under pressure (half) and before reading pauses (full). */
  bufferCapacity: number;
  /** Each live event handed to a subscriber (the delivery-lag histogram). */
  onDelivered?: (stream: 'job' | 'feed', event: JobEvent) => void;
}

/** Opens followers for `jobEvents` and `jobFeed`. Tenancy is checked by the caller. */
export class EventSubscriptions {
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
    ).open();
  }

  /** The tenant's JOB_* events from now on; it never completes by itself. */
  jobFeed(tenant: string): Promise<StreamFollower> {
    return new StreamFollower(
      {
        channel: JOB_KEYS.feed(tenant),
        topic: 'feed',
        start: () => this.log.feedNow(),
        read: (after, count) => this.log.feedAfter(tenant, after, count),
        isLast: () => false,
        delivered: (event) => this.opts.onDelivered?.('feed', event),
      },
      this.wakeups,
      this.opts.bufferCapacity,
    ).open();
  }
}
