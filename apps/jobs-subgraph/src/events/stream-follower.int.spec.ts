import { Redis } from 'ioredis';
import { ByteBudgets } from '#libs/backpressure';
import type { JobEvent, NodeReport } from '#libs/contracts';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { drain, ONE_NODE_SUCCESS_EVENTS, reportFields } from '../../test/scenario.js';
import { JOB_KEYS } from '../scheduler/keys.js';
import { EventLog } from './event-log.js';
import { EventSubscriptions } from './job-events.js';
import { eventBytes } from './subscriber-buffer.js';
import { Wakeups } from './wakeups.js';
import { encodeEventCursor } from './event-cursor.js';

const KIB = 1024;
const PER_TENANT = 256 * KIB;
const LOGS = 150;
/** ~3 KB log lines: 150 of them are ~450 KB per replay. */
const LINE = 'x'.repeat(3000);

describe('event subscribers against a real redis-server', () => {
  let server: RedisHandle;
  let core: CoreHarness;
  let subscriber: Redis;
  let subscriptions: EventSubscriptions;
  let wakeups: Wakeups;
  let manifestOnly: TestWorker;

  beforeAll(async () => {
    server = await startRedis();
    core = await startCore(server.url, { startConsumer: false });
    // a manifest so the planner sees the tasks; reports are applied by hand below
    manifestOnly = new TestWorker({ url: server.url, tasks: Object.values(TEST_TASKS), handlers: {} });
    await manifestOnly.publishManifest();
    subscriber = new Redis(server.url, { maxRetriesPerRequest: null });
    wakeups = new Wakeups(subscriber, core.logger);
    subscriptions = new EventSubscriptions(new EventLog(core.redis), wakeups, { bufferCapacity: 8 });
  });
  afterAll(async () => {
    await manifestOnly.stop();
    subscriber.disconnect();
    await core.close();
    await server.stop();
  });

  const submitSlow = async () => {
    const { job } = await core.service.submitJob('acme', {
      graph: { nodes: [{ id: 'n', task: 'test.slow', inputs: { ms: 1 } }] },
    });
    const base = reportFields(job.id, 'acme', { nodeId: 'n' });
    return { jobId: job.id, base };
  };

  it('a slow subscriber gets every non-progress event in order and the latest progress; the buffer stays bounded', async () => {
    const { jobId, base } = await submitSlow();
    const follower = await subscriptions.jobEvents(jobId, 0, 'acme');
    await core.scheduler.applyReport({ ...base, type: 'started', actorId: 'a' });
    for (let i = 1; i <= 200; i++) {
      await core.scheduler.applyReport({ ...base, type: 'progress', progress: i / 200 });
      if (i % 50 === 0)
        await core.scheduler.applyReport({ ...base, type: 'log', level: 'info', message: `at ${i}` });
    }
    await core.scheduler.applyReport({
      ...base,
      type: 'succeeded',
      outputs: { slept: 1 },
      artifactIds: [],
    } as NodeReport);
    const got = await drain(follower);
    const all = (await new EventLog(core.redis).jobEventsAfter(jobId, 0, 10_000)).map((e) => e.event);
    const nonProgress = (es: typeof all) => es.filter((e) => e.type !== 'NODE_PROGRESS').map((e) => e.seq);
    expect(nonProgress(got)).toEqual(nonProgress(all));
    const progress = got.filter((e) => e.type === 'NODE_PROGRESS');
    expect(progress.length).toBeLessThan(200);
    expect(follower.coalesced).toBe(200 - progress.length);
    expect(progress.at(-1)!.progress).toBe(1);
    expect(got.map((e) => e.seq)).toEqual([...got.map((e) => e.seq)].sort((a, b) => a - b));
    expect(got.at(-1)!.type).toBe('JOB_SUCCEEDED');
  });

  it('goes live after the backlog with no gap or duplicate while events are appended concurrently', async () => {
    for (let round = 0; round < 5; round++) {
      const { jobId, base } = await submitSlow();
      await core.scheduler.applyReport({ ...base, type: 'started', actorId: 'a' });
      const writer = (async () => {
        for (let i = 1; i <= 30; i++)
          await core.scheduler.applyReport({ ...base, type: 'log', level: 'info', message: `${i}` });
        await core.scheduler.applyReport({
          ...base,
          type: 'succeeded',
          outputs: { slept: 1 },
          artifactIds: [],
        } as NodeReport);
      })();
      // subscribe while the writer runs: part backlog, part live
      const follower = await subscriptions.jobEvents(jobId, 2, 'acme');
      const got = await drain(follower);
      await writer;
      expect(got.map((e) => e.seq)).toEqual(got.map((_, i) => i + 3));
      expect(got.at(-1)!.type).toBe('JOB_SUCCEEDED');
    }
  });

  it('subscribes once per tenant channel, and unsubscribes when its last subscriber leaves', async () => {
    const numsub = async () =>
      ((await core.redis.pubsub('NUMSUB', JOB_KEYS.feed('acme'))) as [string, number])[1];
    const [a, b] = [await submitSlow(), await submitSlow()];
    const first = await subscriptions.jobEvents(a.jobId, 0, 'acme');
    const second = await subscriptions.jobEvents(b.jobId, 0, 'acme');
    await waitFor(async () => (await numsub()) === 1);
    await first.return();
    expect(await numsub()).toBe(1);
    await second.return();
    await waitFor(async () => (await numsub()) === 0);
  });

  it("wakes only the job's own subscribers: another job's events are not read for it", async () => {
    const [a, b] = [await submitSlow(), await submitSlow()];
    const reads: string[] = [];
    const counting = new EventLog(core.redis);
    const original = counting.jobEventsAfter.bind(counting);
    counting.jobEventsAfter = (jobId, ...rest) => {
      reads.push(jobId);
      return original(jobId, ...rest);
    };
    const watching = new EventSubscriptions(counting, new Wakeups(subscriber, core.logger), {
      bufferCapacity: 8,
    });
    const follower = await watching.jobEvents(a.jobId, 0, 'acme');
    const opened = reads.length;
    await core.scheduler.applyReport({ ...b.base, type: 'started', actorId: 'a' });
    await core.scheduler.applyReport({ ...a.base, type: 'started', actorId: 'a' });
    await core.scheduler.applyReport({
      ...a.base,
      type: 'succeeded',
      outputs: { slept: 1 },
      artifactIds: [],
    } as NodeReport);
    const got = await drain(follower);
    expect(got.map((e) => e.type)).toEqual(ONE_NODE_SUCCESS_EVENTS);
    expect(reads.slice(opened).every((id) => id === a.jobId)).toBe(true);
  });

  it('a subscriber resuming after the terminal event completes at once; a cursor past the end is refused', async () => {
    const { jobId, base } = await submitSlow();
    await core.scheduler.applyReport({ ...base, type: 'started', actorId: 'a' });
    await core.scheduler.applyReport({
      ...base,
      type: 'succeeded',
      outputs: { slept: 1 },
      artifactIds: [],
    } as NodeReport);
    const all = await drain(await subscriptions.jobEvents(jobId, 0, 'acme'));
    expect(all.at(-1)!.type).toBe('JOB_SUCCEEDED');
    expect(await drain(await subscriptions.jobEvents(jobId, all.at(-1)!.seq, 'acme'))).toEqual([]);
    await expect(
      core.service.jobEvents('acme', jobId, encodeEventCursor(jobId, all.length + 5)),
    ).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
    });
  });

  it('reports delivery of the events written after it opened, not the replayed backlog (delivery lag)', async () => {
    const { jobId, base } = await submitSlow();
    const delivered: string[] = [];
    const measured = new EventSubscriptions(new EventLog(core.redis), new Wakeups(subscriber, core.logger), {
      bufferCapacity: 8,
      onDelivered: (stream, event) => delivered.push(`${stream}:${event.type}`),
    });
    await new Promise((r) => setTimeout(r, 5)); // the backlog's `at` is strictly before the open
    const follower = await measured.jobEvents(jobId, 0, 'acme');
    await core.scheduler.applyReport({ ...base, type: 'started', actorId: 'a' });
    await core.scheduler.applyReport({
      ...base,
      type: 'succeeded',
      outputs: { slept: 1 },
      artifactIds: [],
    } as NodeReport);
    const all = await drain(follower);
    expect(all[0]!.type).toBe('JOB_QUEUED');
    const live = all.filter((e) => Date.parse(e.at) > Date.parse(all[0]!.at)).map((e) => `job:${e.type}`);
    expect(live).toContain('job:JOB_SUCCEEDED');
    expect(delivered).toEqual(live);
    expect(delivered).not.toContain('job:JOB_QUEUED');
  });

  /**
   * A subscriber that does not read (a direct API key's client that stopped reading its socket) made its follower
   * read up to SUBSCRIBER_BUFFER (512) events ahead from Redis, each up to 8 KB of log line: ≈ 4 MB per
   * subscription, for up to 1,000 subscriptions per key. With a readahead budget per tenant, its followers hold back
   * once the tenant's bytes are spent, and nothing is lost: the rest stays in the stream.
   */
  describe('with a readahead budget per tenant', () => {
    let readahead: ByteBudgets;
    let budgeted: EventSubscriptions;

    beforeAll(() => {
      readahead = new ByteBudgets({ perOwner: PER_TENANT, total: 0 });
      budgeted = new EventSubscriptions(new EventLog(core.redis), wakeups, {
        bufferCapacity: 512,
        readahead,
      });
    });

    /** A finished one-node job of `tenant` with LOGS log lines of ~3 KB. */
    async function loggedJob(tenant: string): Promise<{ jobId: string; events: JobEvent[] }> {
      const { job } = await core.service.submitJob(tenant, {
        graph: { nodes: [{ id: 'n', task: 'test.slow', inputs: { ms: 1 } }] },
      });
      const base = reportFields(job.id, tenant, { nodeId: 'n' });
      await core.scheduler.applyReport({ ...base, type: 'started', actorId: 'a' });
      for (let i = 0; i < LOGS; i++)
        await core.scheduler.applyReport({ ...base, type: 'log', level: 'info', message: `${i} ${LINE}` });
      await core.scheduler.applyReport({
        ...base,
        type: 'succeeded',
        outputs: { slept: 1 },
        artifactIds: [],
      } as NodeReport);
      const events = (await new EventLog(core.redis).jobEventsAfter(job.id, 0, 10_000)).map((e) => e.event);
      expect(events.length).toBeGreaterThan(LOGS);
      return { jobId: job.id, events };
    }

    it("holds back a tenant's followers past its bytes, reads on as they are taken, loses nothing, gives every byte back", async () => {
      const { jobId, events } = await loggedJob('hoarder');
      const total = events.reduce((n, e) => n + eventBytes(e), 0);
      expect(total).toBeGreaterThan(PER_TENANT);
      const largest = Math.max(...events.map(eventBytes));
      // ten subscribers that read nothing yet
      const followers = await Promise.all(
        Array.from({ length: 10 }, () => budgeted.jobEvents(jobId, 0, 'hoarder')),
      );
      // without the budget each would hold the whole replay (10 × ~450 KB); now the bound, passed by at most one small
      // read (8 events) per follower that had nothing
      const held = readahead.usedBy('hoarder');
      expect(held).toBeLessThanOrEqual(PER_TENANT + 10 * 8 * largest);
      expect(held).toBeLessThan(total);
      expect(followers.every((f) => f.buffered > 0)).toBe(true); // every one of them moves
      // what they hold, counted by events (each ~3 KB): far from 10 whole replays
      const buffered = followers.reduce((n, f) => n + f.buffered, 0);
      expect(buffered * 3000).toBeLessThanOrEqual(PER_TENANT + 10 * 8 * largest);

      // another tenant is not held back by it: its subscriber reads its whole replay meanwhile
      const other = await loggedJob('other');
      const otherFollower = await budgeted.jobEvents(other.jobId, 0, 'other');
      expect((await drain(otherFollower)).map((e) => e.seq)).toEqual(other.events.map((e) => e.seq));
      expect(readahead.usedBy('other')).toBe(0);
      expect(readahead.usedBy('hoarder')).toBe(held);

      // taken: each gets every event, in order (log lines never coalesce), none twice
      const got = await Promise.all(followers.map((f) => drain(f)));
      for (const g of got) expect(g.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
      expect(readahead.usedBy('hoarder')).toBe(0);
    });

    it('a subscriber that leaves gives back what was read ahead for it', async () => {
      const { jobId } = await loggedJob('leaver');
      const follower = await budgeted.jobEvents(jobId, 0, 'leaver');
      expect(readahead.usedBy('leaver')).toBeGreaterThan(0);
      await follower.next();
      await follower.return();
      expect(readahead.usedBy('leaver')).toBe(0);
      expect(readahead.owners).toBe(0);
    });
  });
});
