import type { Redis } from 'ioredis';
import {
  compareStreamIds,
  JobEvent,
  JobEventType,
  JobStatus,
  parseContract,
  replyPairs,
  streamFieldValues,
} from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { redisNowMs } from '#libs/redis';
import { JOB_KEYS } from '../scheduler/keys.js';
import {
  encodeEventCursor,
  encodeFeedCursor,
  InvalidEventCursorError,
  type FeedPosition,
} from './event-cursor.js';

/** A position (`0-<seq>` in a job's event log, a stream entry id in a feed) and its event. */
export interface StoredEvent {
  position: string;
  event: JobEvent;
  /** In a feed: the event's place in its entry (an entry holds one step's JOB_* events). */
  index?: number;
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

/**
 * The tenant's feed was trimmed (retention: about FEED_STREAM_MAXLEN entries) past where a reader stands (the
 * event it asked to resume after, or the last one it read, when it fell that far behind): events in between
 * are gone. BAD_USER_INPUT: the client subscribes without `after` and reads the jobs for what changed meanwhile.
 */
export class FeedTrimmedError extends DomainError {
  constructor(after: string) {
    super(
      'BAD_USER_INPUT',
      `the feed no longer holds the events after ${after} (it keeps about its last 10,000 steps): subscribe without \`after\` and read the jobs for what changed`,
    );
    this.name = 'FeedTrimmedError';
  }
}

/** An event as the Lua transitions store it (lua/includes/common.lua): compact keys, `a` in ms. */
interface CompactEvent {
  s: number;
  t: string;
  a: number;
  n?: string;
  p?: number;
  m?: string;
  /** job id: feed entries only (a job's own log knows its job) */
  j?: string;
}

/** No stream entry has this id (XADD refuses it): a feed cursor naming it stands before the feed's first entry. */
const FEED_START = '0-0';

/** The greatest stream id before `entry`, so that reading after it starts with `entry`. */
function entryBefore(entry: string): string {
  const [ms, seq] = entry.split('-').map(BigInt) as [bigint, bigint];
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  return ms > 0n ? `${ms - 1n}-18446744073709551615` : '0-0';
}

/** A stored event (compact, or a whole JobEvent as written before the compact form) as a JobEvent. */
function toEvent(json: string, jobId: string | undefined, tenant: string): JobEvent {
  const raw = JSON.parse(json) as CompactEvent | (Omit<JobEvent, 'cursor'> & { t?: undefined });
  if (raw.t === undefined) {
    const legacy = raw as Omit<JobEvent, 'cursor'>;
    return parseContract(JobEvent, 'JobEvent', {
      ...legacy,
      cursor: encodeEventCursor(legacy.jobId, legacy.seq),
    });
  }
  const c = raw as CompactEvent;
  const id = c.j ?? jobId ?? '';
  const event: Record<string, unknown> = {
    cursor: encodeEventCursor(id, c.s),
    seq: c.s,
    jobId: id,
    tenant,
    type: c.t,
    at: new Date(c.a).toISOString(),
  };
  if (c.n !== undefined) event.nodeId = c.n;
  if (c.p !== undefined) event.progress = c.p;
  if (c.m !== undefined) event.message = c.m;
  return isWellFormed(c, id) ? (event as JobEvent) : parseContract(JobEvent, 'JobEvent', event);
}

const EVENT_TYPES: ReadonlySet<string> = new Set(JobEventType.options);
/** First ms of year 10000: before it toISOString() writes the plain form IsoDateTime accepts. */
const YEAR_10000_MS = 253_402_300_800_000;

/**
 * What the JobEvent contract checks, for the compact events our own Lua writes (read per event per reader: the
 * zod parse was most of their cost). Anything else still goes through the contract, so a bad entry fails as before.
 */
function isWellFormed(c: CompactEvent, jobId: string): boolean {
  return (
    Number.isSafeInteger(c.s) &&
    c.s >= 1 &&
    typeof jobId === 'string' &&
    EVENT_TYPES.has(c.t) &&
    typeof c.a === 'number' &&
    c.a >= 0 &&
    c.a < YEAR_10000_MS &&
    (c.n === undefined || typeof c.n === 'string') &&
    (c.p === undefined || (typeof c.p === 'number' && c.p >= 0 && c.p <= 1)) &&
    (c.m === undefined || (typeof c.m === 'string' && c.m.length <= 8000))
  );
}

const atSeq = (event: JobEvent): StoredEvent => ({ position: `0-${event.seq}`, event });

/**
 * Reads of the event logs the scheduler's Lua appends to (see lua/includes/common.lua for layout and
 * retention). A job's log is a list whose entry i is seq i + 1 + (entries trimmed so far): a read goes
 * straight to the index, and only when the entry found there is not the one expected (trimmed, or nothing
 * new) looks at the list's length and last entry.
 */
export class EventLog {
  constructor(private readonly redis: Redis) {}

  /**
   * Up to `count` events of a job after seq `afterSeq` (0 = from the first), in order. `tenant`: the job's
   * (read from the job when not given).
   */
  async jobEventsAfter(
    jobId: string,
    afterSeq: number,
    count: number,
    tenant?: string,
  ): Promise<StoredEvent[]> {
    const owner = tenant ?? (await this.redis.hget(JOB_KEYS.job(jobId), 'tenant')) ?? '';
    const key = JOB_KEYS.eventLog(jobId);
    let index = afterSeq;
    // a trim between two reads moves the entries again: a few tries always suffice (trims are rare)
    for (let tries = 0; tries < 5; tries++) {
      const events = (await this.redis.lrange(key, index, index + count - 1)).map((e) =>
        toEvent(e, jobId, owner),
      );
      if (events[0]?.seq === afterSeq + 1) return events.map(atSeq);
      let trimmed: number;
      if (events.length > 0) {
        trimmed = events[0]!.seq - 1 - index;
      } else {
        const [[, len], [, last]] = (await this.redis.pipeline().llen(key).lindex(key, -1).exec()) as [
          [unknown, number],
          [unknown, string | null],
        ];
        if (len === 0 || last === null) return this.legacyEventsAfter(jobId, afterSeq, count, owner, 0);
        const lastSeq = toEvent(last, jobId, owner).seq;
        if (lastSeq <= afterSeq) return [];
        trimmed = lastSeq - len;
      }
      if (afterSeq < trimmed) return this.legacyEventsAfter(jobId, afterSeq, count, owner, trimmed);
      index = afterSeq - trimmed;
    }
    throw new Error(`the event log of job ${jobId} kept changing under a read`);
  }

  /**
   * Events after `afterSeq` from the event stream a job written before the event log became a list has
   * (`firstInLog`: the first seq the list holds, 0 when it holds none), then from the list; EventsTrimmedError
   * when neither holds the next one.
   */
  private async legacyEventsAfter(
    jobId: string,
    afterSeq: number,
    count: number,
    tenant: string,
    firstInLog: number,
  ): Promise<StoredEvent[]> {
    const entries = await this.redis.xrange(JOB_KEYS.events(jobId), `(0-${afterSeq}`, '+', 'COUNT', count);
    const events = entries.map(([, fields]) => toEvent(fields[fields.indexOf('e') + 1]!, jobId, tenant));
    const first = events[0]?.seq;
    if (first === undefined) {
      if (firstInLog > 0) throw new EventsTrimmedError(jobId, afterSeq, firstInLog + 1);
      return [];
    }
    if (first !== afterSeq + 1) throw new EventsTrimmedError(jobId, afterSeq, first);
    const last = events.at(-1)!.seq;
    const more =
      firstInLog > 0 && events.length < count && last === firstInLog
        ? await this.jobEventsAfter(jobId, last, count - events.length, tenant)
        : [];
    return [...events.map(atSeq), ...more];
  }

  /** The job's status as recorded with its events (null: no such job). */
  async jobStatus(jobId: string): Promise<JobStatus | null> {
    const status = await this.redis.hget(JOB_KEYS.job(jobId), 'status');
    return status === null ? null : parseContract(JobStatus, 'JobStatus', status);
  }

  /**
   * The events of up to `count` entries of a tenant's feed after stream position `after`. An entry holds one
   * step's JOB_* events in order (a field "e" each); they share its position, and are read together.
   */
  async feedAfter(tenant: string, after: string, count: number): Promise<StoredEvent[]> {
    const key = JOB_KEYS.feed(tenant);
    const entries = await this.redis.xrange(key, `(${after}`, '+', 'COUNT', count);
    // Only a reader that got a full batch can have fallen behind a trim (the feed keeps far more entries than a
    // batch): then it checks that no entry after its position was trimmed, rather than skip those silently.
    if (entries.length === count && (await this.feedTrimmedPast(key, after)))
      throw new FeedTrimmedError(`position ${after}`);
    return entries.flatMap(([position, fields]) =>
      streamFieldValues(fields, 'e').map((raw, index) => ({
        position,
        index,
        event: {
          ...toEvent(raw, undefined, tenant),
          feedCursor: encodeFeedCursor({ entry: position, index }),
        },
      })),
    );
  }

  /**
   * Whether the feed was trimmed past `position` (a reader there lost events): entries were trimmed (Redis 7
   * counts every entry added; without that count, as if some were) and its oldest kept entry is later. Exact
   * when `position` is the oldest kept entry; otherwise the events after it are gone, but for the one case where
   * the trim ended exactly at it (a reader about 10,000 steps behind), told rather than guessed.
   */
  private async feedTrimmedPast(key: string, position: string): Promise<boolean> {
    let info: unknown[];
    try {
      info = (await this.redis.xinfo('STREAM', key)) as unknown[];
    } catch (e) {
      if (e instanceof Error && e.message.includes('no such key')) return false;
      throw e;
    }
    const stream = replyPairs(info);
    const added = stream.get('entries-added');
    if (added !== undefined && Number(added) <= Number(stream.get('length'))) return false;
    const first = (stream.get('first-entry') as [string, unknown] | null | undefined)?.[0];
    return first !== undefined && compareStreamIds(first, position) > 0;
  }

  /**
   * Where a feed reader resuming right after the event at `from` starts (the position before its entry: the
   * entry's events up to `from.index` are the reader's to skip), once the feed is known to still hold everything
   * after it. Throws FeedTrimmedError when the feed was trimmed past that entry, InvalidEventCursorError when
   * the entry is later than the feed's last one (not a cursor this feed gave).
   */
  async feedResumePosition(tenant: string, from: FeedPosition, cursor: string): Promise<string> {
    const key = JOB_KEYS.feed(tenant);
    const [last] = await this.redis.xrevrange(key, '+', '-', 'COUNT', 1);
    // an empty feed's head (feedHead) names 0-0, before any entry
    if (compareStreamIds(from.entry, last?.[0] ?? FEED_START) > 0)
      throw new InvalidEventCursorError(`cursor "${cursor}" is past the feed's last event`);
    // trimmed past the cursor's entry: the events after it are (partly) gone
    if (await this.feedTrimmedPast(key, from.entry)) throw new FeedTrimmedError(`cursor "${cursor}"`);
    return entryBefore(from.entry);
  }

  /**
   * The feed's head as a cursor: the feedCursor of its last event (of the position before its first entry while
   * it has none), so `jobFeed(after:)` with it starts with the next event appended: a cursor like any other, which
   * a clock position (feedNow, usually past the last entry) could not be.
   */
  async feedHead(tenant: string): Promise<string> {
    const [last] = await this.redis.xrevrange(JOB_KEYS.feed(tenant), '+', '-', 'COUNT', 1);
    if (last === undefined) return encodeFeedCursor({ entry: FEED_START, index: 0 });
    const events = streamFieldValues(last[1], 'e').length;
    return encodeFeedCursor({ entry: last[0], index: Math.max(0, events - 1) });
  }

  /** The feed position "now": entries appended from here on come after it. */
  async feedNow(): Promise<string> {
    // one ms back: an entry added in this very ms gets an id >= <ms>-0, so it is still after this position
    return `${(await redisNowMs(this.redis)) - 1}-0`;
  }
}
