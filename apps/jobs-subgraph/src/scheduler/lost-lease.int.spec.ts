import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BULLMQ_PREFIX, NODE_QUEUES, attemptJobId, leaseJobId, type JsonObject } from '#libs/contracts';
import { redisPerSuite, waitFor } from '#libs/testing';
import { leaderPasses, startCore, type CoreHarness } from '../../test/harness.js';
import { single, waitForJob } from '../../test/scenario.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { BullmqNodeQueue } from './bullmq-enqueuer.js';
import { FairQueue, type DispatchStep } from './fair-queue.js';
import { JOB_KEYS } from './keys.js';
import { ReplicaHeartbeat } from './replica-liveness.js';

const TENANT = 'acme';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = { 'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Another replica ("a"), reduced to what matters here: its liveness key and its fair-stage steps. */
interface OtherReplica {
  connection: Redis;
  heartbeat: ReplicaHeartbeat;
  /** What its step popped: a lease of four it has not added to the node queue (yet). */
  step: DispatchStep;
  lease: string;
  /** Adds what it popped, late: what a replica that was paused (not dead) does when it runs again. */
  addLate(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The reconciler's repair of a lease popped by a replica that never added it to the node queue: at once when that
 * replica's liveness key expired, only after lostDispatchMs while it is renewed, and in both cases under the
 * lease's own id, so the replica's add coming after all (it was only paused) is a no-op and nothing runs twice.
 */
describe('a lease popped but never added (real redis-server)', () => {
  const redis = redisPerSuite();

  /**
   * Five one-node jobs on `core` with a window of one: the first goes out alone; then replica "a" frees that slot
   * (as its start would) and its step pops the other four in one lease, named by "a", which it does not add.
   */
  async function popLeaseOnOtherReplica(core: CoreHarness): Promise<{ ids: string[]; a: OtherReplica }> {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await core.service.submitJob(TENANT, single('test.emit', { value: i }))).job.id);
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const heartbeat = new ReplicaHeartbeat(connection, { ttlMs: 600, logger: core.logger, id: 'replicaA' });
    heartbeat.start();
    const fair = new FairQueue(connection, 1, Date.now, () => 4, heartbeat.id);
    const step = await fair.release('cpu', attemptJobId(ids[0]!, 'only', 1));
    const lease = leaseJobId({ jobId: ids[1]!, nodeId: 'only', attempt: 1 }, 'replicaA');
    expect(step.dispatched.map((d) => d.lease)).toEqual([lease, lease, lease, lease]);
    const nodeQueue = new BullmqNodeQueue(connection);
    return {
      ids,
      a: {
        connection,
        heartbeat,
        step,
        lease,
        addLate: () =>
          nodeQueue.add('cpu', [{ lease, attempts: step.dispatched.map((d) => d.entry.payload) }]),
        async close() {
          await heartbeat.stop();
          await nodeQueue.close();
          connection.disconnect();
        },
      },
    };
  }

  /** How many node-queue jobs (in any state: finished ones are kept) carry each attempt of `ids`. */
  async function copiesInQueue(queue: Queue, ids: string[]): Promise<number[]> {
    const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed']);
    const carried = jobs.flatMap((j) => {
      const data = j.data as { attempts?: Array<{ jobId: string }>; jobId?: string };
      return (data.attempts ?? [data]).map((p) => p.jobId);
    });
    return ids.map((id) => carried.filter((c) => c === id).length);
  }

  /** Every job succeeded with one run of its only attempt: no attempt ran twice. */
  async function expectEachRanOnce(core: CoreHarness, worker: TestWorker, ids: string[]): Promise<void> {
    for (const id of ids) await waitForJob(core, TENANT, id, (v) => v.job.status === 'SUCCEEDED', 10_000);
    await sleep(300); // a second copy, if there were one, would run now
    expect(worker.ran.map((p) => `${p.jobId}.${p.attempt}`).sort()).toEqual(
      ids.map((id) => `${id}.1`).sort(),
    );
  }

  it("re-adds a dead replica's lease within seconds, and the paused replica's late add is a no-op", async () => {
    const core = await startCore(redis.url, { lease: { max: 4, targetMs: 50 }, dispatchWindow: 1 });
    const offering = await new TestWorker({ url: redis.url, tasks, handlers, resourceClasses: [] }).start();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(NODE_QUEUES.cpu, { connection, prefix: BULLMQ_PREFIX });
    let worker: TestWorker | undefined;
    let a: OtherReplica | undefined;
    let leader: ReturnType<typeof leaderPasses> | undefined;
    try {
      const popped = await popLeaseOnOtherReplica(core);
      a = popped.a;
      // "a" stops between its pop and its add: its liveness key is no longer renewed and expires (600 ms)
      await a.heartbeat.stop(false);
      const diedAt = Date.now();
      leader = leaderPasses(core);
      worker = await new TestWorker({ url: redis.url, tasks, handlers }).start();
      await waitFor(async () => (await queue.getJob(a!.lease)) !== undefined, {
        timeoutMs: 8_000,
        intervalMs: 50,
        what: 'the lease re-added',
      });
      // the grace after a dispatch (2 s) and a pass, not the 30 s a live replica's lease is given
      expect(Date.now() - diedAt).toBeLessThan(5_000);
      expect(await core.redis.exists(JOB_KEYS.replica('replicaA'))).toBe(0);
      expect((await queue.getJob(a.lease))?.data.attempts).toHaveLength(4);
      const logged = core.logger.lines.filter((l) => l.msg === 'reconciler: reenqueued').map((l) => l.fields);
      expect(logged).toHaveLength(4);
      expect(logged[0]).toMatchObject({ lease: a.lease, dispatcher: 'replicaA', dispatcherAlive: false });
      await expectEachRanOnce(core, worker, popped.ids);
      expect(leader.actions).toBe(4);

      // "a" was only paused: it wakes up and adds what it popped, under the same id: BullMQ keeps one job
      await a.addLate();
      expect(await copiesInQueue(queue, popped.ids)).toEqual([1, 1, 1, 1, 1]);
      await expectEachRanOnce(core, worker, popped.ids);
    } finally {
      await leader?.stop();
      await worker?.stop();
      await offering.stop();
      await a?.close();
      await queue.close();
      connection.disconnect();
      await core.close();
    }
  });

  // review (fails now): lost leases are re-added only after a pass in which no job failed to reconcile
  // (requeueLostLeases(failed === 0)), so one job whose pass always throws (a record this version cannot parse:
  // a rolling upgrade, a bug) stops every lost-lease repair of the cluster; their attempts then wait until
  // schedule-to-start fails them UNSCHEDULABLE (not retryable). The old per-attempt repair had no such coupling.
  it("re-adds a dead replica's lease even while another job's reconcile keeps failing", async () => {
    const core = await startCore(redis.url, { lease: { max: 4, targetMs: 50 }, dispatchWindow: 1 });
    const offering = await new TestWorker({ url: redis.url, tasks, handlers, resourceClasses: [] }).start();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(NODE_QUEUES.cpu, { connection, prefix: BULLMQ_PREFIX });
    let a: OtherReplica | undefined;
    let leader: ReturnType<typeof leaderPasses> | undefined;
    try {
      const popped = await popLeaseOnOtherReplica(core);
      a = popped.a;
      // another tenant's job (held in the stage: the window is full) whose node record no longer parses
      const poisoned = (await core.service.submitJob('other', single('test.emit', { value: 9 }))).job.id;
      await core.redis.hset(JOB_KEYS.node(poisoned, 'only'), 'status', 'NOT_A_STATUS');
      await a.heartbeat.stop(false);
      leader = leaderPasses(core);
      // past the grace after a dispatch (2 s) and many passes: polled up to 15 s (a fixed 5 s was 2.5× the grace,
      // tight on a loaded CI machine), so it is as fast as the repair when that works
      await waitFor(
        async () =>
          core.logger.lines.some((l) => l.msg === 'reconciling a job failed') &&
          (await queue.getJob(a!.lease)) !== undefined,
        { timeoutMs: 15_000, intervalMs: 100, what: 'the failed reconcile logged and the lease re-added' },
      ).catch(() => undefined);
      expect(core.logger.lines.some((l) => l.msg === 'reconciling a job failed')).toBe(true);
      expect(await queue.getJob(a.lease)).not.toBeUndefined();
    } finally {
      await leader?.stop();
      await offering.stop();
      await a?.close();
      await queue.close();
      connection.disconnect();
      await core.close();
    }
  });

  it("leaves a live replica's slow lease alone until lostDispatchMs, then re-adds it; its late add is a no-op", async () => {
    let skewMs = 0;
    const core = await startCore(redis.url, {
      lease: { max: 4, targetMs: 50 },
      dispatchWindow: 1,
      now: () => Date.now() + skewMs,
    });
    const offering = await new TestWorker({ url: redis.url, tasks, handlers, resourceClasses: [] }).start();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(NODE_QUEUES.cpu, { connection, prefix: BULLMQ_PREFIX });
    let worker: TestWorker | undefined;
    let a: OtherReplica | undefined;
    let leader: ReturnType<typeof leaderPasses> | undefined;
    try {
      const popped = await popLeaseOnOtherReplica(core);
      a = popped.a;
      // "a" lives (its key is renewed) but its add is slow: past the grace and several of its TTLs, no repair
      leader = leaderPasses(core);
      worker = await new TestWorker({ url: redis.url, tasks, handlers }).start();
      await sleep(3_500);
      expect(leader.actions).toBe(0);
      expect(await queue.getJob(a.lease)).toBeUndefined();
      expect(await core.redis.exists(JOB_KEYS.replica('replicaA'))).toBe(1);
      await leader.stop();

      // 30 s after the dispatch it is re-added anyway (under its id: whatever "a" does next changes nothing)
      skewMs = 31_000;
      expect((await core.reconciler.reconcileOnce()).actions).toBe(4);
      await a.addLate();
      expect(await copiesInQueue(queue, popped.ids)).toEqual([1, 1, 1, 1, 1]);
      await expectEachRanOnce(core, worker, popped.ids);
      expect((await core.reconciler.reconcileOnce()).actions).toBe(0);
      expect(core.logger.lines.filter((l) => l.msg === 'reconciler: reenqueued')[0]?.fields).toMatchObject({
        lease: a.lease,
        dispatcherAlive: true,
      });
    } finally {
      await leader?.stop();
      await worker?.stop();
      await offering.stop();
      await a?.close();
      await queue.close();
      connection.disconnect();
      await core.close();
    }
  });
});
