import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  BULLMQ_PREFIX,
  NODE_QUEUES,
  REDIS_KEYS,
  attemptJobId,
  leaseJobId,
  type JsonObject,
  type NodeAttemptPayload,
} from '#libs/contracts';
import { redisPerSuite, waitFor } from '#libs/testing';
import { leaderPasses, startCore, type CoreHarness } from '../../test/harness.js';
import { single, waitForJob } from '../../test/scenario.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { NO_METRICS, type ReconcilerAction } from './scheduler-ports.js';

const TENANT = 'acme';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = { 'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the actor does with a lease's attempts after its first one (which it runs to its end, or not). */
type LeaseEnd = 'handback-refused' | 'report-undeliverable';

/**
 * Stands in for a gpu-worker actor (apps/gpu-worker actor/lease-processor.ts) on a real BullMQ Worker: a single
 * attempt runs to success; of a lease, the first attempt runs, then the lease ends as `end` says:
 *  - 'handback-refused': the first attempt succeeded, then the actor stops (slice, drain) and hands the rest back
 *    as handBack() does (updateData, moveToDelayed) while Redis refuses writes (OOM under `noeviction`, the
 *    production policy: the memory is full); the error propagates, and BullMQ fails the lease (attempts 1), whose
 *    lock is still the actor's, once Redis takes writes again;
 *  - 'report-undeliverable': the first attempt's `started` is written, its terminal report is not (Redis refused
 *    it past the reporter's retries): the attempt throws ReportUndeliverableError and BullMQ fails the lease.
 * Either way the lease's other attempts were never started.
 */
async function startActor(
  url: string,
  admin: Redis,
  end: LeaseEnd,
): Promise<{ ran: string[]; refused: string[]; close(): Promise<void> }> {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const reports = new Redis(url, { maxRetriesPerRequest: null });
  const ran: string[] = [];
  const refused: string[] = [];
  const report = (p: NodeAttemptPayload, fields: object) =>
    reports.xadd(
      REDIS_KEYS.reports,
      '*',
      'r',
      JSON.stringify({
        jobId: p.jobId,
        tenant: p.tenant,
        nodeId: p.nodeId,
        attempt: p.attempt,
        workerId: 'actor-w',
        at: new Date().toISOString(),
        ...fields,
      }),
    );
  const run = async (p: NodeAttemptPayload) => {
    ran.push(`${p.jobId}.${p.attempt}`);
    await report(p, { type: 'started', actorId: 'actor-w/cpu0' });
    await report(p, {
      type: 'succeeded',
      outputs: { value: p.inputs.value as number },
      artifactIds: [],
      ranMs: 1,
    });
  };
  const process = async (job: Job, token?: string) => {
    const data = job.data as { attempts?: NodeAttemptPayload[] } & NodeAttemptPayload;
    if (!data.attempts) return run(data);
    const [first, ...rest] = data.attempts;
    if (end === 'report-undeliverable') {
      ran.push(`${first!.jobId}.${first!.attempt}`);
      await report(first!, { type: 'started', actorId: 'actor-w/cpu0' });
      throw new Error('a report of the attempt is undeliverable (terminal report undeliverable)');
    }
    await run(first!);
    await admin.config('SET', 'maxmemory', '1');
    try {
      await job.updateData({ attempts: rest });
      await job.moveToDelayed(Date.now(), token);
    } catch (e) {
      refused.push((e as Error).message);
      throw e;
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
  };
  const worker = new Worker(NODE_QUEUES.cpu, process, {
    connection,
    prefix: BULLMQ_PREFIX,
    concurrency: 1,
    lockDuration: 5_000,
  });
  worker.on('error', () => undefined);
  // Once: a second ioredis disconnect() of a closed socket arms a 2 s timer that no 'close' event clears.
  let closed: Promise<void> | undefined;
  return {
    ran,
    refused,
    close: () =>
      (closed ??= (async () => {
        await worker.close(true);
        connection.disconnect();
        reports.disconnect();
      })()),
  };
}

/**
 * A lease whose actor could not hand its unstarted attempts back (Redis refused the hand-back) or could not
 * report (a terminal report undeliverable) ends `failed` in BullMQ. Its attempts that never started must go back
 * to the queue at the attempt number they had, once each, without costing a try; one that started is judged as
 * before (CRASHED, a try). Real redis-server, real BullMQ, the scheduler's core and its leader's passes.
 */
describe('a lease that ended with attempts its actor never started (real redis-server)', () => {
  const redis = redisPerSuite();

  /** Five one-node jobs, a window of one: the first goes out alone, the other four in one lease. */
  async function submitLeaseOfFour(
    core: CoreHarness,
    queue: Queue,
  ): Promise<{ ids: string[]; lease: string }> {
    core.enqueuer.attemptRan('cpu', 1); // attempts of a few ms: leases of the most
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await core.service.submitJob(TENANT, single('test.emit', { value: i }))).job.id);
    await core.enqueuer.taken(ids[0]!, 'only', 1, 'cpu');
    const lease = leaseJobId({ jobId: ids[1]!, nodeId: 'only', attempt: 1 }, core.enqueuer.dispatcherId);
    expect((await queue.getJob(lease))?.data.attempts).toHaveLength(4);
    return { ids, lease };
  }

  const counting = () => {
    const actions: ReconcilerAction[] = [];
    return {
      actions,
      metrics: { ...NO_METRICS, reconcilerAction: (a: ReconcilerAction) => actions.push(a) },
    };
  };

  async function attemptOf(core: CoreHarness, jobId: string): Promise<number> {
    const v = await waitForJob(core, TENANT, jobId, (x) => x.job.status === 'SUCCEEDED', 15_000);
    return v.nodes[0]!.attempt;
  }

  it('re-queues the attempts of a lease whose hand-back Redis refused, at their attempt, each run once', async () => {
    await redis.client.config('SET', 'maxmemory-policy', 'noeviction');
    const { actions, metrics } = counting();
    const core = await startCore(redis.url, { lease: { max: 4, targetMs: 50 }, dispatchWindow: 1, metrics });
    const offering = await new TestWorker({ url: redis.url, tasks, handlers, resourceClasses: [] }).start();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(NODE_QUEUES.cpu, { connection, prefix: BULLMQ_PREFIX });
    let actor: Awaited<ReturnType<typeof startActor>> | undefined;
    let worker: TestWorker | undefined;
    let leader: ReturnType<typeof leaderPasses> | undefined;
    try {
      const { ids, lease } = await submitLeaseOfFour(core, queue);
      actor = await startActor(redis.url, redis.client, 'handback-refused');
      await waitFor(async () => (await queue.getJobState(lease)) === 'failed', {
        timeoutMs: 10_000,
        intervalMs: 50,
        what: 'the lease failed after its refused hand-back',
      });
      expect(actor.refused[0]).toMatch(/OOM/);
      await actor.close();
      leader = leaderPasses(core);
      worker = await new TestWorker({ url: redis.url, tasks, handlers }).start();
      // every attempt at 1: the three the actor never started cost no try
      for (const id of ids) expect(await attemptOf(core, id)).toBe(1);
      await sleep(500); // a second copy, if there were one, would run now
      expect(actor.ran.sort()).toEqual([`${ids[0]}.1`, `${ids[1]}.1`].sort());
      expect(worker.ran.map((p) => `${p.jobId}.${p.attempt}`).sort()).toEqual(
        ids
          .slice(2)
          .map((id) => `${id}.1`)
          .sort(),
      );
      expect(actions.filter((a) => a === 'crashed')).toEqual([]);
      // visible: one line and one count for the lease, and each attempt re-added
      const logged = core.logger.lines.filter((l) => l.msg === 'reconciler: lease returned');
      expect(logged).toHaveLength(1);
      const fields = logged[0]!.fields as { unstarted: string[] };
      expect(fields).toMatchObject({ lease, queueState: 'failed' });
      expect([...fields.unstarted].sort()).toEqual(
        ids
          .slice(2)
          .map((id) => attemptJobId(id, 'only', 1))
          .sort(),
      );
      expect(actions.filter((a) => a === 'lease_returned')).toHaveLength(1);
      expect(actions.filter((a) => a === 'reenqueued')).toHaveLength(3);
    } finally {
      await leader?.stop();
      await actor?.close().catch(() => undefined);
      await worker?.stop();
      await offering.stop();
      await queue.close();
      connection.disconnect();
      await core.close();
      await redis.client.config('SET', 'maxmemory', '0');
    }
  });

  it('judges the started attempt CRASHED as before, and waits for its reports before re-queueing the others', async () => {
    const { actions, metrics } = counting();
    const core = await startCore(redis.url, {
      lease: { max: 4, targetMs: 50 },
      dispatchWindow: 1,
      metrics,
      startConsumer: false,
    });
    const offering = await new TestWorker({ url: redis.url, tasks, handlers, resourceClasses: [] }).start();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(NODE_QUEUES.cpu, { connection, prefix: BULLMQ_PREFIX });
    let actor: Awaited<ReturnType<typeof startActor>> | undefined;
    let worker: TestWorker | undefined;
    let leader: ReturnType<typeof leaderPasses> | undefined;
    try {
      const { ids, lease } = await submitLeaseOfFour(core, queue);
      actor = await startActor(redis.url, redis.client, 'report-undeliverable');
      await waitFor(async () => (await queue.getJobState(lease)) === 'failed', {
        timeoutMs: 10_000,
        intervalMs: 50,
        what: 'the lease failed after an undeliverable report',
      });
      await actor.close();
      // the reports are not applied yet: the first attempt's `started` is still in the stream, so its node reads
      // QUEUED like the three never started; nothing is judged or re-queued until the stream is applied
      for (let i = 0; i < 3; i++) expect((await core.reconciler.reconcileOnce()).actions).toBe(0);
      expect(await queue.getJobState(lease)).toBe('failed');
      core.consumer.start();
      leader = leaderPasses(core);
      worker = await new TestWorker({ url: redis.url, tasks, handlers }).start();
      expect(await attemptOf(core, ids[1]!)).toBe(2); // started, then no end: CRASHED, a try
      for (const id of [ids[0]!, ...ids.slice(2)]) expect(await attemptOf(core, id)).toBe(1);
      await sleep(500);
      expect(actor.ran.sort()).toEqual([`${ids[0]}.1`, `${ids[1]}.1`].sort());
      expect(worker.ran.map((p) => `${p.jobId}.${p.attempt}`).sort()).toEqual(
        [`${ids[1]}.2`, ...ids.slice(2).map((id) => `${id}.1`)].sort(),
      );
      const crashed = core.logger.lines.filter((l) => l.msg === 'reconciler: crashed').map((l) => l.fields);
      expect(crashed).toHaveLength(1);
      expect(crashed[0]).toMatchObject({ jobId: ids[1], attempt: 1 });
      expect(actions.filter((a) => a === 'lease_returned')).toHaveLength(1);
    } finally {
      await leader?.stop();
      await actor?.close().catch(() => undefined);
      await worker?.stop();
      await offering.stop();
      await queue.close();
      connection.disconnect();
      await core.close();
    }
  });
});
