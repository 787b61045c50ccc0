import { Redis } from 'ioredis';
import type { NodeReport } from '#libs/contracts';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { drain, ONE_NODE_SUCCESS_EVENTS, reportFields } from '../../test/scenario.js';
import { JOB_KEYS } from '../scheduler/keys.js';
import { EventLog } from './event-log.js';
import { EventSubscriptions } from './job-events.js';
import { Wakeups } from './wakeups.js';
import { encodeEventCursor } from './event-cursor.js';

describe('event subscribers against a real redis-server', () => {
  let server: RedisHandle;
  let core: CoreHarness;
  let subscriber: Redis;
  let subscriptions: EventSubscriptions;
  let manifestOnly: TestWorker;

  beforeAll(async () => {
    server = await startRedis();
    core = await startCore(server.url, { startConsumer: false });
    // a manifest so the planner sees the tasks; reports are applied by hand below
    manifestOnly = new TestWorker({ url: server.url, tasks: Object.values(TEST_TASKS), handlers: {} });
    await manifestOnly.publishManifest();
    subscriber = new Redis(server.url, { maxRetriesPerRequest: null });
    subscriptions = new EventSubscriptions(new EventLog(core.redis), new Wakeups(subscriber, core.logger), {
      bufferCapacity: 8,
    });
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
});
