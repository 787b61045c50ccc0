import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import {
  REDIS_KEYS,
  attemptJobId,
  reportEntryFields,
  type JsonObject,
  type NodeReport,
} from '#libs/contracts';
import { redisPerSuite, waitFor } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import {
  allEvents,
  ONE_NODE_SUCCESS_EVENTS,
  readReportsAs,
  single,
  waitForJob,
} from '../../test/scenario.js';
import { FAIR_KEYS } from './fair-queue.js';
import { JOB_KEYS } from './keys.js';
import { NO_METRICS } from './scheduler-ports.js';

const TENANT = 'acme';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = { 'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }) };

/** The worker's clock: the attempt ran from STARTED_AT for RAN_MS, its end reported at ENDED_AT. */
const RAN_MS = 1_500;
const ENDED_AT = new Date(Date.now() - 60_000);
const STARTED_AT = new Date(ENDED_AT.getTime() - RAN_MS).toISOString();

const base = (jobId: string, attempt = 1) => ({
  jobId,
  tenant: TENANT,
  nodeId: 'only',
  attempt,
  workerId: 'w1',
  at: ENDED_AT.toISOString(),
});
const started = (jobId: string, attempt = 1): NodeReport => ({
  ...base(jobId, attempt),
  at: STARTED_AT,
  type: 'started',
  actorId: 'w1/cpu0',
});
const logLine = (jobId: string, attempt = 1): NodeReport => ({
  ...base(jobId, attempt),
  type: 'log',
  level: 'warn',
  message: 'why the output looks odd',
});
const succeeded = (jobId: string): NodeReport => ({
  ...base(jobId),
  type: 'succeeded',
  outputs: { value: 3 },
  artifactIds: [],
  ranMs: RAN_MS,
});
/** A failure of a run (ranMs) or, without `ran`, a refusal before it (the worker never started it). */
const failed = (jobId: string, retryable: boolean, ran = true): NodeReport => ({
  ...base(jobId),
  type: 'failed',
  error: { code: ran ? 'TASK_FAILED' : 'TENANT_THROTTLED', message: 'no', retryable },
  ...(ran ? { ranMs: RAN_MS } : {}),
});
const progress = (jobId: string, attempt = 1): NodeReport => ({
  ...base(jobId, attempt),
  type: 'progress',
  progress: 0.5,
  message: 'half way',
});
const released = (jobId: string, ran = true): NodeReport => ({
  ...base(jobId),
  type: 'released',
  reason: 'worker draining',
  ...(ran ? { ranMs: RAN_MS } : {}),
});

/** When the node's current attempt became eligible (ms): where schedule-to-start begins. */
const queuedAt = async (redis: Redis, jobId: string) =>
  Number(await redis.hget(JOB_KEYS.node(jobId, 'only'), 'queuedAt'));
const types = async (core: CoreHarness, jobId: string) => (await allEvents(core, jobId)).map((e) => e.type);
const byStatus = (redis: Redis, status: string) =>
  redis.zrange(JOB_KEYS.tenantJobsByStatus(TENANT, status), '0', '-1');
/** What a report that must change nothing could touch. */
const state = async (redis: Redis, jobId: string) => ({
  job: await redis.hgetall(JOB_KEYS.job(jobId)),
  node: await redis.hgetall(JOB_KEYS.node(jobId, 'only')),
  log: await redis.lrange(`${JOB_KEYS.job(jobId)}:log`, 0, -1),
});

describe("an attempt's end applied before its start and log (real redis-server)", () => {
  const redis = redisPerSuite();
  let core: CoreHarness;
  let manifest: TestWorker;
  /** The schedule-to-start times the scheduler recorded (metrics.attemptStarted), in order. */
  let scheduleToStart: number[];

  beforeEach(async () => {
    scheduleToStart = [];
    const metrics = { ...NO_METRICS, attemptStarted: (ms: number) => void scheduleToStart.push(ms) };
    core = await startCore(redis.url, { startConsumer: false, backoffBaseMs: 60_000, metrics });
    manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
  });
  afterEach(async () => {
    await manifest.stop();
    await core.close();
  });

  const submit = async () => (await core.service.submitJob(TENANT, single('test.emit', { value: 3 }))).job.id;
  const apply = (reports: NodeReport[]) =>
    reports.reduce<Promise<string[]>>(
      async (out, r) => [...(await out), await core.scheduler.applyReport(r)],
      Promise.resolve([]),
    );

  it('a completion first starts the attempt: the events, node and job read as in order; the late log is kept', async () => {
    const inOrder = await submit();
    expect(await apply([started(inOrder), logLine(inOrder), succeeded(inOrder)])).toEqual([
      'applied',
      'applied',
      'applied',
    ]);
    const reordered = await submit();
    expect(await apply([succeeded(reordered), started(reordered), logLine(reordered)])).toEqual([
      'applied',
      'stale', // its effects were applied by the completion
      'applied',
    ]);

    expect(await types(core, inOrder)).toEqual([
      ...ONE_NODE_SUCCESS_EVENTS.slice(0, 4),
      'LOG',
      ...ONE_NODE_SUCCESS_EVENTS.slice(4),
    ]);
    const events = await allEvents(core, reordered);
    expect(events.map((e) => e.type)).toEqual([...ONE_NODE_SUCCESS_EVENTS, 'LOG']);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.find((e) => e.type === 'NODE_STARTED')!.message).toBe('worker w1');
    expect(events.at(-1)!.message).toBe('[warn] why the output looks odd');

    const view = (await core.service.job(TENANT, reordered))!;
    expect(view.job).toMatchObject({ status: 'SUCCEEDED', startedAt: STARTED_AT });
    // the worker's start, as its end tells it: `at` less the run time
    expect(view.nodes[0]).toMatchObject({ status: 'SUCCEEDED', workerId: 'w1', startedAt: STARTED_AT });
    // the indexes went from QUEUED to SUCCEEDED; the job's JOB_STARTED and JOB_SUCCEEDED share one feed entry
    expect(await byStatus(redis.client, 'SUCCEEDED')).toEqual(expect.arrayContaining([inOrder, reordered]));
    expect(await byStatus(redis.client, 'RUNNING')).toEqual([]);
    expect(await byStatus(redis.client, 'QUEUED')).toEqual([]);
    const feed = await redis.client.xrange(JOB_KEYS.feed(TENANT), '-', '+');
    const ofJob = feed.filter(([, fields]) => fields[1]!.includes(reordered));
    expect(
      ofJob.map(([, fields]) => fields.filter((_, i) => i % 2 === 1).map((e) => JSON.parse(e).t)),
    ).toEqual([['JOB_QUEUED'], ['JOB_STARTED', 'JOB_SUCCEEDED']]);

    // a duplicate end and an unknown attempt's log change nothing (the latter is dropped with a warning)
    const before = await state(redis.client, reordered);
    expect(await apply([succeeded(reordered), started(reordered), logLine(reordered, 2)])).toEqual([
      'stale',
      'stale',
      'stale',
    ]);
    expect(await state(redis.client, reordered)).toEqual(before);
    expect(core.logger.lines.some((l) => l.level === 'warn' && l.msg.startsWith('log line dropped'))).toBe(
      true,
    );
  });

  it('a failure of a run that ends the job first starts it; its late log is kept', async () => {
    const jobId = await submit();
    expect(await apply([failed(jobId, false), started(jobId), logLine(jobId)])).toEqual([
      'applied',
      'stale',
      'applied',
    ]);
    expect(await types(core, jobId)).toEqual([
      'JOB_QUEUED',
      'NODE_QUEUED',
      'JOB_STARTED',
      'NODE_STARTED',
      'NODE_FAILED',
      'JOB_FAILED',
      'LOG',
    ]);
    const view = (await core.service.job(TENANT, jobId))!;
    expect(view.job).toMatchObject({ status: 'FAILED', startedAt: STARTED_AT });
    expect(view.nodes[0]).toMatchObject({ status: 'FAILED', workerId: 'w1', startedAt: STARTED_AT });
    expect(await byStatus(redis.client, 'FAILED')).toEqual([jobId]);
    expect(await byStatus(redis.client, 'QUEUED')).toEqual([]);
  });

  it('a retried failure of a run first starts it; the old attempt’s late start and log are stale', async () => {
    const jobId = await submit();
    expect(await apply([failed(jobId, true)])).toEqual(['applied']);
    const before = await state(redis.client, jobId);
    expect(await apply([started(jobId), logLine(jobId)])).toEqual(['stale', 'stale']);
    expect(await state(redis.client, jobId)).toEqual(before);
    expect(await types(core, jobId)).toEqual([
      'JOB_QUEUED',
      'NODE_QUEUED',
      'JOB_STARTED',
      'NODE_STARTED',
      'NODE_RETRYING',
    ]);
    const view = (await core.service.job(TENANT, jobId))!;
    expect(view.job).toMatchObject({ status: 'RUNNING', startedAt: STARTED_AT });
    expect(view.nodes[0]).toMatchObject({ status: 'RETRYING', attempt: 2 });
    expect(view.nodes[0]!.workerId).toBeUndefined();
    expect(await byStatus(redis.client, 'RUNNING')).toEqual([jobId]);
  });

  it('an end that starts the attempt records schedule-to-start up to when it started, and frees its dispatch slot', async () => {
    const [done, failedRun, releasedRun] = [await submit(), await submit(), await submit()];
    const jobs = [done, failedRun, releasedRun];
    // the submit step took each root's dispatch slot (nothing waited)
    const slot = (jobId: string) =>
      redis.client.zscore(FAIR_KEYS.dispatched('cpu'), attemptJobId(jobId, 'only', 1));
    for (const jobId of jobs) expect(await slot(jobId)).not.toBeNull();
    // each attempt started WAITED ms after its node was queued, and ran for RAN ms (the worker's clock)
    const WAITED = 200;
    const RAN = 100;
    const timed = async (report: NodeReport) => {
      const at = new Date((await queuedAt(redis.client, report.jobId)) + WAITED + RAN).toISOString();
      return { ...report, at, ranMs: RAN } as NodeReport;
    };
    const ends = [
      await timed(succeeded(done)),
      await timed(failed(failedRun, false)),
      await timed(released(releasedRun)),
    ];
    await sleep(WAITED + RAN + 50); // the ends are in the past: nothing clamps their start to now

    expect(await apply(ends)).toEqual(['applied', 'applied', 'applied']);
    // not the time to the end's apply, which would count the run (and the wait for the reordered start) as waiting
    expect(scheduleToStart).toEqual([WAITED, WAITED, WAITED]);
    // as a start report frees it: the window does not wait for the late start (a dead replica's: until claimed)
    for (const jobId of jobs) expect(await slot(jobId)).toBeNull();
    // the late start reports are stale and record nothing
    expect(await apply(jobs.map((jobId) => started(jobId)))).toEqual(['stale', 'stale', 'stale']);
    expect(scheduleToStart).toEqual([WAITED, WAITED, WAITED]);
  });

  it('a progress applied before its start starts the attempt first; the late start is stale', async () => {
    const jobId = await submit();
    const slot = () => redis.client.zscore(FAIR_KEYS.dispatched('cpu'), attemptJobId(jobId, 'only', 1));
    expect(await slot()).not.toBeNull();
    // the worker sent its progress WAITED ms after the node was queued: the attempt started by then
    const WAITED = 200;
    const at = new Date((await queuedAt(redis.client, jobId)) + WAITED).toISOString();
    await sleep(WAITED + 50);

    expect(await apply([{ ...progress(jobId), at }, started(jobId), succeeded(jobId)])).toEqual([
      'applied',
      'stale', // its effects were applied by the progress
      'applied',
    ]);
    const events = await allEvents(core, jobId);
    expect(events.map((e) => e.type)).toEqual([
      ...ONE_NODE_SUCCESS_EVENTS.slice(0, 4),
      'NODE_PROGRESS',
      ...ONE_NODE_SUCCESS_EVENTS.slice(4),
    ]);
    expect(events.find((e) => e.type === 'NODE_STARTED')!.message).toBe('worker w1');
    expect(events.find((e) => e.type === 'NODE_PROGRESS')).toMatchObject({
      progress: 0.5,
      message: 'half way',
    });
    const view = (await core.service.job(TENANT, jobId))!;
    expect(view.job).toMatchObject({ status: 'SUCCEEDED', startedAt: at });
    expect(view.nodes[0]).toMatchObject({ status: 'SUCCEEDED', workerId: 'w1', startedAt: at });
    // as after a start report: its slot freed, schedule-to-start recorded once (to the progress: the latest the
    // attempt can have started)
    expect(await slot()).toBeNull();
    expect(scheduleToStart).toEqual([WAITED]);

    // a progress still dropped (an attempt that is not the node's current one) says so
    expect(await apply([progress(jobId, 2)])).toEqual(['stale']);
    expect(core.logger.lines.some((l) => l.level === 'warn' && l.msg.startsWith('progress dropped'))).toBe(
      true,
    );
  });

  it('a released run first starts it; a refusal before the run (no ranMs) starts nothing', async () => {
    const ran = await submit();
    expect(await apply([released(ran), started(ran)])).toEqual(['applied', 'stale']);
    expect(await types(core, ran)).toEqual([
      'JOB_QUEUED',
      'NODE_QUEUED',
      'JOB_STARTED',
      'NODE_STARTED',
      'NODE_QUEUED',
    ]);
    expect((await core.service.job(TENANT, ran))!.job.status).toBe('RUNNING');

    const refusedRelease = await submit();
    const refusedFailure = await submit();
    expect(await apply([released(refusedRelease, false), failed(refusedFailure, true, false)])).toEqual([
      'applied',
      'applied',
    ]);
    expect(await types(core, refusedRelease)).toEqual(['JOB_QUEUED', 'NODE_QUEUED', 'NODE_QUEUED']);
    expect(await types(core, refusedFailure)).toEqual(['JOB_QUEUED', 'NODE_QUEUED', 'NODE_RETRYING']);
    for (const jobId of [refusedRelease, refusedFailure]) {
      const view = (await core.service.job(TENANT, jobId))!;
      expect(view.job.status).toBe('QUEUED');
      expect(view.job.startedAt).toBeUndefined();
    }
  });
});

describe('report order across a consumer that died holding entries (real redis-server)', () => {
  const redis = redisPerSuite();
  const body = (r: NodeReport) => JSON.stringify(r);
  const append = (reports: NodeReport[]) =>
    redis.client.xadd(REDIS_KEYS.reports, '*', ...reportEntryFields(reports.map(body)));
  const nothingPending = () =>
    waitFor(
      async () =>
        ((await redis.client.xpending(REDIS_KEYS.reports, REDIS_KEYS.reportsGroup)) as [number])[0] === 0,
      { timeoutMs: 20_000, what: "the dead consumer's entry claimed and applied" },
    );

  /**
   * A job whose worker's first entry (`first`) a replica reads and dies holding, before applying or acknowledging
   * it; `then` runs with a replica under a new consumer name, which claims that entry after 2 s.
   */
  async function afterDeadConsumer(
    first: (jobId: string) => NodeReport[],
    then: (survivor: CoreHarness, jobId: string) => Promise<void>,
  ): Promise<void> {
    const submitter = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    try {
      const jobId = (await submitter.service.submitJob(TENANT, single('test.emit', { value: 3 }))).job.id;
      await append(first(jobId));
      await readReportsAs(redis.client, 'dead-replica');
      const survivor = await startCore(redis.url, { claimIdleMs: 2_000 });
      try {
        await then(survivor, jobId);
      } finally {
        await survivor.close();
      }
    } finally {
      await manifest.stop();
      await submitter.close();
    }
  }

  it("a dead consumer's entry (started + log) claimed after the attempt's end was applied", async () => {
    await afterDeadConsumer(
      (jobId) => [started(jobId), logLine(jobId)],
      async (survivor, jobId) => {
        // the survivor reads the worker's next entry, the end, first
        await append([succeeded(jobId)]);
        await waitForJob(survivor, TENANT, jobId, (v) => v.job.status === 'SUCCEEDED', 15_000);
        await nothingPending();
        expect(await types(survivor, jobId)).toEqual([...ONE_NODE_SUCCESS_EVENTS, 'LOG']);
        const node = await redis.client.hgetall(JOB_KEYS.node(jobId, 'only'));
        expect(node).toMatchObject({ workerId: 'w1', startedAt: STARTED_AT });
      },
    );
  });

  it("a progress read while a dead consumer holds the attempt's start is applied, not dropped", async () => {
    await afterDeadConsumer(
      (jobId) => [started(jobId)],
      async (survivor, jobId) => {
        // the survivor reads the worker's next entry, a progress, first: it starts the attempt
        await append([progress(jobId)]);
        await waitForJob(survivor, TENANT, jobId, (v) => v.nodes[0]!.progress === 0.5, 10_000);
        await nothingPending();
        expect(await types(survivor, jobId)).toEqual([
          'JOB_QUEUED',
          'NODE_QUEUED',
          'JOB_STARTED',
          'NODE_STARTED',
          'NODE_PROGRESS',
        ]);
        const node = await redis.client.hgetall(JOB_KEYS.node(jobId, 'only'));
        expect(node).toMatchObject({ status: 'RUNNING', workerId: 'w1', message: 'half way' });
      },
    );
  });
});
