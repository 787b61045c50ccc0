import type { Redis } from 'ioredis';
import { JobEvent, JobStatus, parseContract } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { redisNowMs } from '#libs/redis';
import { JOB_KEYS } from '../scheduler/keys.js';
import { encodeEventCursor } from './event-cursor.js';

/** A stream entry id (`0-<seq>` in a job's stream, Redis-generated in a feed) and its event. */
export interface StoredEvent {
  position: string;
  event: JobEvent;
}

/**
 * The job's events were trimmed (retention) past the position a reader asked to resume from. BAD_USER_INPUT:
 * the client resumes from a later cursor or from the start.
 */
export class EventsTrimmedError extends DomainError {
  constructor(
    readonly jobId: string,
    readonly afterSeq: number,
    readonly firstRetainedSeq: number,
  ) {
    super(
      'BAD_USER_INPUT',
      `events of job ${jobId} after seq ${afterSeq} are no longer retained (oldest kept: ${firstRetainedSeq})`,
    );
    this.name = 'EventsTrimmedError';
  }
}

const toEvent = (fields: string[]): JobEvent => {
  const raw = JSON.parse(fields[fields.indexOf('e') + 1]!) as { jobId: string; seq: number };
  return parseContract(JobEvent, 'JobEvent', { ...raw, cursor: encodeEventCursor(raw.jobId, raw.seq) });
};

/** Reads of the event streams the scheduler's Lua appends to (see lua/includes/common.lua for retention). */
export class EventLog {
  constructor(private readonly redis: Redis) {}

  /** Up to `count` events of a job after seq `afterSeq` (0 = from the first), in order. */
  async jobEventsAfter(jobId: string, afterSeq: number, count: number): Promise<StoredEvent[]> {
    const entries = await this.redis.xrange(JOB_KEYS.events(jobId), `(0-${afterSeq}`, '+', 'COUNT', count);
    const events = entries.map(([position, fields]) => ({ position, event: toEvent(fields) }));
    const first = events[0]?.event.seq;
    if (first !== undefined && first !== afterSeq + 1) throw new EventsTrimmedError(jobId, afterSeq, first);
    return events;
  }

  /** The job's status as recorded with its events (null: no such job). */
  async jobStatus(jobId: string): Promise<JobStatus | null> {
    const status = await this.redis.hget(JOB_KEYS.job(jobId), 'status');
    return status === null ? null : parseContract(JobStatus, 'JobStatus', status);
  }

  /** Up to `count` events of a tenant's feed after stream position `after`. */
  async feedAfter(tenant: string, after: string, count: number): Promise<StoredEvent[]> {
    const entries = await this.redis.xrange(JOB_KEYS.feed(tenant), `(${after}`, '+', 'COUNT', count);
    return entries.map(([position, fields]) => ({ position, event: toEvent(fields) }));
  }

  /** The feed position "now": entries appended from here on come after it. */
  async feedNow(): Promise<string> {
    // one ms back: an entry added in this very ms gets an id >= <ms>-0, so it is still after this position
    return `${(await redisNowMs(this.redis)) - 1}-0`;
  }
}
