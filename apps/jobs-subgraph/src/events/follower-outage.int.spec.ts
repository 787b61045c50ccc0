import type { Redis } from 'ioredis';
import type { JobEvent, NodeReport } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { createRedis, disconnectRedis, waitForRedisReady } from '#libs/redis';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { quietLogger, startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { ONE_NODE_SUCCESS_EVENTS, reportFields } from '../../test/scenario.js';
import { EventLog } from './event-log.js';
import { EventSubscriptions } from './job-events.js';
import { readOutagesOf } from './read-outages.js';
import type { StreamFollower } from './stream-follower.js';
import { Wakeups } from './wakeups.js';

/** What a live subscriber got, and how it ended (done, or the error it ended with). */
interface Collected {
  got: JobEvent[];
  ended?: 'done' | unknown;
}
const followers: StreamFollower[] = [];
const collect = (follower: StreamFollower): Collected => {
  followers.push(follower);
  const c: Collected = { got: [] };
  void (async () => {
    try {
      for (;;) {
        const r = await follower.next();
        if (r.done) break;
        c.got.push(r.value);
      }
      c.ended = 'done';
    } catch (e) {
      c.ended = e;
    }
  })();
  return c;
};

/**
 * Live jobEvents / jobFeed subscribers while a real redis-server is SIGKILLed (and restarted on the same port and
 * data, or not). The subscribers' pub/sub connection comes back at once; their reading connection (the app's
 * `jobs` command connection: fails fast while disconnected) is held back, so the re-read after the restart
 * first finds it down: the order that ended about half of all live subscriptions.
 */
describe('live subscribers through a Redis outage', () => {
  let server: RedisHandle;
  let core: CoreHarness;
  let manifestOnly: TestWorker;
  const connections: Redis[] = [];
  const logger = quietLogger();

  beforeAll(async () => {
    server = await startRedis();
    core = await startCore(server.url, { startConsumer: false });
    manifestOnly = new TestWorker({ url: server.url, tasks: Object.values(TEST_TASKS), handlers: {} });
    await manifestOnly.publishManifest();
  });
  afterEach(async () => {
    for (const f of followers.splice(0)) await f.return();
    for (const r of connections.splice(0)) disconnectRedis(r);
    logger.lines.length = 0;
  });
  afterAll(async () => {
    await manifestOnly?.stop();
    await core?.close();
    await server?.stop();
  });

  /** The app's wiring, with the reading connection's reconnects `jobsRetryMs` apart. */
  const subscriptions = (jobsRetryMs: number, maxOutageMs = 30_000) => {
    const jobs = createRedis({
      url: server.url,
      name: 'jobs',
      role: 'command',
      logger,
      extra: { retryStrategy: () => jobsRetryMs },
    });
    const subscriber = createRedis({
      url: server.url,
      name: 'jobs-events',
      role: 'blocking',
      logger,
      extra: { retryStrategy: () => 50 },
    });
    connections.push(jobs, subscriber);
    let ended = 0;
    const outages = readOutagesOf(jobs, {
      maxOutageMs,
      logger,
      metrics: { endedUnavailable: () => ended++ },
    });
    const subs = new EventSubscriptions(new EventLog(jobs), new Wakeups(subscriber, logger), {
      bufferCapacity: 64,
      outages,
    });
    return { jobs, subscriber, subs, outages, ended: () => ended };
  };

  const submit = async () => {
    const { job } = await core.service.submitJob('acme', {
      graph: { nodes: [{ id: 'n', task: 'test.slow', inputs: { ms: 1 } }] },
    });
    return { jobId: job.id, base: reportFields(job.id, 'acme', { nodeId: 'n' }) };
  };

  it('a restart with the reading connection back last: jobEvents and jobFeed go on, each event once', async () => {
    const { jobs, subscriber, subs, outages } = subscriptions(1_500);
    await Promise.all([waitForRedisReady(jobs), waitForRedisReady(subscriber)]);
    const { jobId, base } = await submit();
    const events = collect(await subs.jobEvents(jobId, 0, 'acme'));
    const feed = collect(await subs.jobFeed('acme'));
    await waitFor(() => events.got.length === 2, { what: 'the backlog' });

    await server.kill('SIGKILL');
    await server.restart();
    // the pub/sub connection is back and has re-read (through the reading connection, still down) …
    await waitFor(
      () => logger.lines.some((l) => l.msg === 'event channels subscribed again: subscribers read again'),
      { what: 'the re-read after the restart' },
    );
    expect(jobs.status).not.toBe('ready');
    // … then the reading connection is back too, and both read again
    await waitFor(() => jobs.status === 'ready', { what: 'the jobs connection' });
    await waitFor(() => outages.waiting === 0, { what: 'no subscriber waiting' });

    await core.scheduler.applyReport({ ...base, type: 'started', actorId: 'a' });
    await waitFor(() => events.got.length >= 4 || events.ended, { what: 'the events appended after it' });
    await core.scheduler.applyReport({
      ...base,
      type: 'succeeded',
      outputs: { slept: 1 },
      artifactIds: [],
    } as NodeReport);
    await waitFor(() => events.ended, { what: 'jobEvents to complete' });
    await waitFor(() => feed.got.some((e) => e.type === 'JOB_SUCCEEDED') || feed.ended, {
      what: 'the feed',
    });

    expect(events.ended).toBe('done');
    expect(events.got.map((e) => e.type)).toEqual(ONE_NODE_SUCCESS_EVENTS);
    expect(events.got.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(feed.ended).toBeUndefined();
    expect(feed.got.filter((e) => e.jobId === jobId).map((e) => e.type)).toEqual([
      'JOB_STARTED',
      'JOB_SUCCEEDED',
    ]);
    // the outage in two lines, not one per subscriber
    const outageLines = logger.lines.filter((l) => l.msg.startsWith('event subscribers:'));
    expect(outageLines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'event subscribers: Redis unavailable; they wait for it and read again from where they were'],
      ['info', 'event subscribers: none waits for Redis any more'],
    ]);
    expect(outageLines[1]!.fields).toMatchObject({ readAgain: 2, endedUnavailable: 0 });
  });

  it('Redis away past the bound: the subscribers end with UNAVAILABLE', async () => {
    const { jobs, subscriber, subs, outages, ended } = subscriptions(50, 1_500);
    await Promise.all([waitForRedisReady(jobs), waitForRedisReady(subscriber)]);
    const { jobId } = await submit();
    const events = collect(await subs.jobEvents(jobId, 0, 'acme'));
    const feed = collect(await subs.jobFeed('acme'));
    await waitFor(() => events.got.length === 2, { what: 'the backlog' });

    const killedAt = Date.now();
    await server.kill('SIGKILL');
    try {
      // nothing wakes them (the pub/sub connection is down too): the reading connection's drop does
      await waitFor(() => outages.waiting === 2, { timeoutMs: 1_000, what: 'both to wait' });
      await waitFor(() => events.ended && feed.ended, { timeoutMs: 5_000, what: 'both to end' });
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(1_400);
      for (const c of [events, feed]) {
        expect(c.ended).toBeInstanceOf(DomainError);
        expect(c.ended).toMatchObject({ code: 'UNAVAILABLE' });
      }
      expect(events.got).toHaveLength(2);
      expect(outages.waiting).toBe(0);
      expect(ended()).toBe(2);
      expect(logger.lines.filter((l) => l.msg.startsWith('event subscribers:')).at(-1)).toMatchObject({
        level: 'warn',
        msg: 'event subscribers: none waits for Redis any more',
        fields: { endedUnavailable: 2 },
      });
    } finally {
      await server.restart();
    }
  });
});
