import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BULLMQ_PREFIX, NODE_QUEUES, attemptJobId, leaseJobId, type JsonObject } from '#libs/contracts';
import { redisPerSuite } from '#libs/testing';
import { raceReconcilers, startCore } from '../../test/harness.js';
import { allEvents, single, waitForJob } from '../../test/scenario.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';

const TENANT = 'acme';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = { 'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }) };
const LEASES = { max: 8, targetMs: 50 };

/** Leases (decision 0007) end to end through the scheduler, its fair stage, BullMQ and a stand-in worker. */
describe('leases: several attempts in one node-queue job (real redis-server)', () => {
  const redis = redisPerSuite();

  it('two replicas with leases run every attempt exactly once, most of them in leases, reconcilers racing', async () => {
    // what both replicas' dispatch metrics were told: attempts per node-queue job handed over
    const handedOver: number[] = [];
    const dispatchMetrics = {
      dispatched: (_rc: string, sizes: readonly number[]) => handedOver.push(...sizes),
      dispatchFailed: () => undefined,
    };
    const a = await startCore(redis.url, { lease: LEASES, dispatchWindow: 2, dispatchMetrics });
    const b = await startCore(redis.url, { lease: LEASES, dispatchWindow: 2, dispatchMetrics });
    const worker = await new TestWorker({ url: redis.url, tasks, handlers, concurrency: 2 }).start();
    const reconcilers = raceReconcilers([a, b]);
    try {
      // the first jobs tell the replicas how long attempts run (leases are sized by it), then a burst
      for (let i = 0; i < 4; i++) {
        const { job } = await a.service.submitJob(TENANT, single('test.emit', { value: i }));
        await waitForJob(a, TENANT, job.id, (v) => v.job.status === 'SUCCEEDED');
      }
      const ids = await Promise.all(
        Array.from({ length: 120 }, async (_, i) => {
          const core = i % 2 ? a : b;
          return (await core.service.submitJob(TENANT, single('test.emit', { value: i }))).job.id;
        }),
      );
      for (const id of ids) await waitForJob(a, TENANT, id, (v) => v.job.status === 'SUCCEEDED', 30_000);
      const runs = worker.ran.map((p) => attemptJobId(p.jobId, p.nodeId, p.attempt));
      expect(new Set(runs).size).toBe(runs.length);
      expect(runs).toHaveLength(124);
      const leased = worker.leases.filter((l) => l.queueJobId.startsWith('lease.'));
      expect(leased.length).toBeGreaterThan(60);
      // the metrics saw each lease once, with its size, and every attempt once (none was dispatched twice)
      expect(handedOver.filter((n) => n > 1)).toHaveLength(new Set(leased.map((l) => l.queueJobId)).size);
      expect(handedOver.reduce((sum, n) => sum + n, 0)).toBe(124);
      for (const id of ids) {
        const events = (await allEvents(a, id)).map((e) => e.type);
        expect(events.filter((t) => t === 'NODE_QUEUED')).toHaveLength(1);
        expect(events.filter((t) => t === 'NODE_SUCCEEDED')).toHaveLength(1);
      }
    } finally {
      await reconcilers.stop();
      await worker.stop();
      await a.close();
      await b.close();
    }
  });

  it("a newcomer tenant starts after about one lease per slot of a flood's, not after the flood", async () => {
    const core = await startCore(redis.url, { lease: LEASES, dispatchWindow: 2 });
    const slow = {
      'test.emit': async (p: { inputs: JsonObject }) => {
        await new Promise((r) => setTimeout(r, 3));
        return { value: p.inputs.value as number };
      },
    };
    const worker = await new TestWorker({ url: redis.url, tasks, handlers: slow, concurrency: 2 }).start();
    try {
      const warm = await core.service.submitJob('flood', single('test.emit', { value: -1 }));
      await waitForJob(core, 'flood', warm.job.id, (v) => v.job.status === 'SUCCEEDED');
      const flood = await Promise.all(
        Array.from(
          { length: 200 },
          async (_, i) => (await core.service.submitJob('flood', single('test.emit', { value: i }))).job.id,
        ),
      );
      await waitForJob(core, 'flood', flood[20]!, (v) => v.job.status === 'SUCCEEDED', 30_000);
      const before = worker.ran.length;
      const { job } = await core.service.submitJob('newcomer', single('test.emit', { value: 1 }));
      await waitForJob(core, 'newcomer', job.id, (v) => v.job.status === 'SUCCEEDED', 30_000);
      const ranBefore = worker.ran.findIndex((p) => p.jobId === job.id) - before;
      // at most the leases the two slots and the two busy workers hold (2 × 8 + 2 × 8), far from the 180 left
      expect(ranBefore).toBeLessThanOrEqual(32);
      expect(worker.leases.some((l) => l.queueJobId.startsWith('lease.'))).toBe(true);
      for (const id of flood)
        await waitForJob(core, 'flood', id, (v) => v.job.status === 'SUCCEEDED', 30_000);
    } finally {
      await worker.stop();
      await core.close();
    }
  });

  it('the reconciler leaves a leased attempt alone while its lease may still be added, then enqueues it again', async () => {
    let clock = Date.now();
    const core = await startCore(redis.url, {
      lease: { max: 4, targetMs: 50 },
      dispatchWindow: 1,
      now: () => clock,
    });
    core.enqueuer.attemptRan('cpu', 1); // attempts of a few ms: leases of the most
    const offering = await new TestWorker({ url: redis.url, tasks, handlers, resourceClasses: [] }).start();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(NODE_QUEUES.cpu, { connection, prefix: BULLMQ_PREFIX });
    let worker: TestWorker | undefined;
    try {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push((await core.service.submitJob(TENANT, single('test.emit', { value: i }))).job.id);
      // the first took the only slot; its start frees it and the other four go out in one lease
      await core.enqueuer.taken(ids[0]!, 'only', 1, 'cpu');
      const lease = leaseJobId({ jobId: ids[1]!, nodeId: 'only', attempt: 1 }, core.enqueuer.dispatcherId);
      expect((await queue.getJob(lease))?.data.attempts).toHaveLength(4);
      expect(await core.enqueuer.inspect('cpu', ids[3]!, 'only', 1)).toMatchObject({
        state: 'waiting',
        lease,
      });

      await queue.remove(lease); // lost, as if the add had never landed
      expect((await core.reconciler.reconcileOnce()).actions).toBe(0); // it might still land
      clock += 31_000;
      expect((await core.reconciler.reconcileOnce()).actions).toBe(4);

      worker = await new TestWorker({ url: redis.url, tasks, handlers }).start();
      for (const id of ids) await waitForJob(core, TENANT, id, (v) => v.job.status === 'SUCCEEDED');
      const runs = worker.ran.map((p) => `${p.jobId}.${p.attempt}`);
      expect(runs.sort()).toEqual(ids.map((id) => `${id}.1`).sort());
    } finally {
      await worker?.stop();
      await offering.stop();
      await queue.close();
      connection.disconnect();
      await core.close();
    }
  });
});
