import { Redis } from 'ioredis';
import { ContractViolation, JobEvent } from '#libs/contracts';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { JOB_KEYS } from '../scheduler/keys.js';
import { encodeFeedCursor, InvalidEventCursorError } from './event-cursor.js';
import { EventLog, EventsTrimmedError, FeedTrimmedError } from './event-log.js';
import { EventSubscriptions } from './job-events.js';
import { Wakeups } from './wakeups.js';
import { quietLogger } from '../../test/harness.js';

/** The event log's index arithmetic, on logs written by hand as the Lua transitions write them. */
describe('EventLog (real redis-server)', () => {
  let server: RedisHandle;
  let redis: Redis;
  let log: EventLog;
  const at = Date.parse('2026-12-01T12:00:00.000Z');
  const compact = (seq: number) =>
    JSON.stringify({ s: seq, t: 'LOG', a: at + seq, n: 'n', m: `line ${seq}` });

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    log = new EventLog(redis);
  });
  afterAll(async () => {
    await redis.quit();
    await server.stop();
  });

  const seqs = async (jobId: string, after: number, count = 100, tenant?: string) =>
    (await log.jobEventsAfter(jobId, after, count, tenant)).map((e) => e.event.seq);

  it('reads from any position of an untrimmed log, as JobEvents with cursors and positions', async () => {
    await redis.hset(JOB_KEYS.job('j1'), 'tenant', 'acme');
    await redis.rpush(JOB_KEYS.eventLog('j1'), ...Array.from({ length: 10 }, (_, i) => compact(i + 1)));
    const [first] = await log.jobEventsAfter('j1', 0, 1);
    expect(first).toMatchObject({
      position: '0-1',
      event: { seq: 1, jobId: 'j1', tenant: 'acme', type: 'LOG', nodeId: 'n', message: 'line 1' },
    });
    expect(first!.event.at).toBe('2026-12-01T12:00:00.001Z');
    expect(await seqs('j1', 0)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await seqs('j1', 7, 2, 'acme')).toEqual([8, 9]);
    expect(await seqs('j1', 10)).toEqual([]);
  });

  it('maps positions past a trim, and refuses a position before the oldest retained event', async () => {
    const key = JOB_KEYS.eventLog('j2');
    await redis.hset(JOB_KEYS.job('j2'), 'tenant', 'acme');
    await redis.rpush(key, ...Array.from({ length: 30 }, (_, i) => compact(i + 1)));
    await redis.ltrim(key, -10, -1); // keeps 21..30, as the transitions trim
    expect(await seqs('j2', 20)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect(await seqs('j2', 25, 3)).toEqual([26, 27, 28]);
    expect(await seqs('j2', 29)).toEqual([30]);
    expect(await seqs('j2', 30)).toEqual([]);
    await expect(log.jobEventsAfter('j2', 0, 10)).rejects.toBeInstanceOf(EventsTrimmedError);
    await expect(log.jobEventsAfter('j2', 19, 10)).rejects.toMatchObject({ firstRetainedSeq: 21 });
  });

  it('reads a job written before the event log was a list: its stream first, then the list', async () => {
    await redis.hset(JOB_KEYS.job('j3'), 'tenant', 'acme');
    for (let seq = 1; seq <= 3; seq++) {
      const event = { seq, jobId: 'j3', tenant: 'acme', type: 'LOG', at: new Date(at).toISOString() };
      await redis.xadd(JOB_KEYS.events('j3'), `0-${seq}`, 'e', JSON.stringify(event));
    }
    await redis.rpush(JOB_KEYS.eventLog('j3'), compact(4), compact(5));
    expect(await seqs('j3', 0)).toEqual([1, 2, 3, 4, 5]);
    expect(await seqs('j3', 1, 1)).toEqual([2]);
    expect(await seqs('j3', 2, 2)).toEqual([3, 4]);
    expect(await seqs('j3', 3)).toEqual([4, 5]);
    expect(await seqs('j3', 5)).toEqual([]);
  });

  it('answers what the JobEvent contract answers: well-formed events as parsed, anything else refused', async () => {
    await redis.hset(JOB_KEYS.job('j4'), 'tenant', 'acme');
    const good = { s: 1, t: 'NODE_PROGRESS', a: at, n: 'n', p: 0.5 };
    await redis.rpush(JOB_KEYS.eventLog('j4'), JSON.stringify(good));
    const [read] = await log.jobEventsAfter('j4', 0, 1);
    expect(read!.event).toEqual(JobEvent.parse(read!.event));
    expect(read!.event).toMatchObject({
      type: 'NODE_PROGRESS',
      progress: 0.5,
      at: '2026-12-01T12:00:00.000Z',
    });
    for (const [i, bad] of [
      { ...good, t: 'NOT_A_TYPE' },
      { ...good, p: 1.5 },
      { ...good, s: 0 },
      { ...good, n: 7 },
      { ...good, m: 'x'.repeat(8001) },
      { ...good, a: 253_402_300_800_000 },
    ].entries()) {
      const jobId = `bad${i}`;
      await redis.hset(JOB_KEYS.job(jobId), 'tenant', 'acme');
      await redis.rpush(JOB_KEYS.eventLog(jobId), JSON.stringify(bad));
      await expect(log.jobEventsAfter(jobId, bad.s === 0 ? -1 : 0, 1)).rejects.toBeInstanceOf(
        ContractViolation,
      );
    }
  });

  describe("the tenant feed, resumed from an event's feedCursor", () => {
    const feedEvent = (jobId: string, seq: number, t: string) =>
      JSON.stringify({ s: seq, t, a: at + seq, j: jobId });
    const resumed = async (subs: EventSubscriptions, after: string, count: number, tenant = 'feedco') => {
      const follower = await subs.jobFeed(tenant, after);
      try {
        const got: string[] = [];
        for (let i = 0; i < count; i++) {
          const { value } = await follower.next();
          got.push(`${value!.jobId}:${value!.type}`);
        }
        return got;
      } finally {
        await follower.return();
      }
    };

    it("gives each event a cursor that resumes right after it, inside a step's entry too", async () => {
      const key = JOB_KEYS.feed('feedco');
      // entries as the transitions write them: one per step, a field "e" per JOB_* event of the step
      const e1 = await redis.xadd(key, '*', 'e', feedEvent('a', 1, 'JOB_QUEUED'));
      const e2 = await redis.xadd(
        key,
        '*',
        'e',
        feedEvent('a', 3, 'JOB_STARTED'),
        'e',
        feedEvent('a', 5, 'JOB_SUCCEEDED'),
      );
      const e3 = await redis.xadd(key, '*', 'e', feedEvent('b', 1, 'JOB_QUEUED'));
      const read = await log.feedAfter('feedco', '0-0', 10);
      expect(read.map((r) => [r.position, r.event.type, r.event.feedCursor])).toEqual([
        [e1, 'JOB_QUEUED', encodeFeedCursor({ entry: e1!, index: 0 })],
        [e2, 'JOB_STARTED', encodeFeedCursor({ entry: e2!, index: 0 })],
        [e2, 'JOB_SUCCEEDED', encodeFeedCursor({ entry: e2!, index: 1 })],
        [e3, 'JOB_QUEUED', encodeFeedCursor({ entry: e3!, index: 0 })],
      ]);

      const subscriber = new Redis(server.url);
      const subs = new EventSubscriptions(log, new Wakeups(subscriber, quietLogger()), {
        bufferCapacity: 16,
      });
      try {
        const cursors = read.map((r) => r.event.feedCursor!);
        expect(await resumed(subs, cursors[0]!, 3)).toEqual([
          'a:JOB_STARTED',
          'a:JOB_SUCCEEDED',
          'b:JOB_QUEUED',
        ]);
        // after the first event of a two-event entry: its second, then on
        expect(await resumed(subs, cursors[1]!, 2)).toEqual(['a:JOB_SUCCEEDED', 'b:JOB_QUEUED']);
        expect(await resumed(subs, cursors[2]!, 1)).toEqual(['b:JOB_QUEUED']);

        // not a feed cursor, a job event's cursor, or a position the feed never reached: the client's mistake
        for (const bad of ['nope', Buffer.from('a:1').toString('base64url')])
          await expect(subs.jobFeed('feedco', bad)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
        await expect(
          subs.jobFeed('feedco', encodeFeedCursor({ entry: '99999999999999-0', index: 0 })),
        ).rejects.toBeInstanceOf(InvalidEventCursorError);
        // trimmed past the cursor's entry: what followed it may be gone, so it is refused, never a silent gap
        await redis.xtrim(key, 'MAXLEN', 1);
        await expect(subs.jobFeed('feedco', cursors[0]!)).rejects.toBeInstanceOf(FeedTrimmedError);
        await expect(subs.jobFeed('feedco', cursors[0]!)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
      } finally {
        subscriber.disconnect();
      }
    });

    it("the feed's head resumes with exactly what was appended after it was read, from an empty feed too", async () => {
      const key = JOB_KEYS.feed('headco');
      const subscriber = new Redis(server.url);
      const subs = new EventSubscriptions(log, new Wakeups(subscriber, quietLogger()), {
        bufferCapacity: 16,
      });
      try {
        // no feed yet (the tenant did nothing): the head stands before its first entry
        const empty = await subs.jobFeedHead('headco');
        // resumed while the feed is still empty (as our gateway starts a live feed): it follows from its start
        const follower = await subs.jobFeed('headco', empty);
        try {
          await redis.xadd(key, '*', 'e', feedEvent('a', 1, 'JOB_QUEUED'));
          await redis.publish(key, 'a feed');
          expect((await follower.next()).value).toMatchObject({ jobId: 'a', type: 'JOB_QUEUED' });
        } finally {
          await follower.return();
        }
        await redis.xadd(
          key,
          '*',
          'e',
          feedEvent('a', 3, 'JOB_STARTED'),
          'e',
          feedEvent('a', 5, 'JOB_SUCCEEDED'),
        );
        expect(await resumed(subs, empty, 3, 'headco')).toEqual([
          'a:JOB_QUEUED',
          'a:JOB_STARTED',
          'a:JOB_SUCCEEDED',
        ]);
        // after a two-event entry: both of its events are before the head
        const head = await subs.jobFeedHead('headco');
        await redis.xadd(key, '*', 'e', feedEvent('b', 1, 'JOB_QUEUED'));
        expect(await resumed(subs, head, 1, 'headco')).toEqual(['b:JOB_QUEUED']);
        // it is the feedCursor of the feed's last event
        const events = await log.feedAfter('headco', '0-0', 10);
        expect(head).toBe(events[2]!.event.feedCursor);
        // another tenant's empty feed: its head is no cursor past anything
        expect(await subs.jobFeedHead('nobody')).toBe(empty);
      } finally {
        subscriber.disconnect();
      }
    });

    it('a reader that fell behind a trim of the feed fails with FeedTrimmedError instead of skipping events', async () => {
      const key = JOB_KEYS.feed('slowco');
      const subscriber = new Redis(server.url);
      const subs = new EventSubscriptions(log, new Wakeups(subscriber, quietLogger()), { bufferCapacity: 4 });
      const follower = await subs.jobFeed('slowco');
      const reads = async () =>
        Number(/cmdstat_xrange:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
      const readsBefore = await reads();
      try {
        // as the transitions write the feed (MAXLEN ~ 10000), while the reader's buffer is full: it stops reading
        for (let from = 1; from <= 12_000; from += 1000) {
          const p = redis.pipeline();
          for (let i = from; i < from + 1000; i++)
            p.xadd(key, 'MAXLEN', '~', '10000', '*', 'e', feedEvent(`job-${i}`, 1, 'JOB_QUEUED'));
          p.publish(key, 'x feed');
          await p.exec();
          // the reader fills its buffer before the trim, not whenever its wakeup comes (on a loaded machine that
          // could be after the trim: then it would fail at once, with nothing read)
          if (from === 1)
            await waitFor(async () => (await reads()) > readsBefore, { what: 'the first read' });
        }
        const seen: string[] = [];
        for (let i = 0; i < 4; i++) seen.push((await follower.next()).value!.jobId);
        // the four it read before the trim, then the trim is told, not skipped
        expect(seen).toEqual(['job-1', 'job-2', 'job-3', 'job-4']);
        await expect(follower.next()).rejects.toBeInstanceOf(FeedTrimmedError);
      } finally {
        await follower.return();
        subscriber.disconnect();
      }
    });
  });
});
