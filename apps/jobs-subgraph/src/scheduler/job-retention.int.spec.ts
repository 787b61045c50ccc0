import { Redis } from 'ioredis';
import { ConfigError } from '#libs/config';
import { DomainError } from '#libs/errors';
import { BULLMQ_PREFIX, REDIS_KEYS, type JsonObject } from '#libs/contracts';
import { waitFor, redisPerSuite } from '#libs/testing';
import { quietLogger, startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { single, waitForJob } from '../../test/scenario.js';
import { loadJobsSubgraphConfig } from '../jobs-config.js';
import { JOB_KEYS } from './keys.js';
import { JobRetention, MS_PER_DAY } from './job-retention.js';
import { LeaderLoops } from './leader-loops.js';
import { NO_METRICS } from './scheduler-ports.js';

const TENANT = 'acme';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);

/** Every key whose name contains the job id (SCAN, not KEYS), artifact keys excepted. */
async function keysOf(redis: Redis, jobId: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `*${jobId}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found.filter((k) => k !== REDIS_KEYS.jobArtifacts(jobId)).sort();
}

/** Sets and sorted sets that name the job id as a member. */
async function memberships(redis: Redis, jobId: string, tenant = TENANT) {
  return {
    tenantJobs: await redis.zscore(JOB_KEYS.tenantJobs(tenant), jobId),
    deadLetter: await redis.zscore(JOB_KEYS.deadLetter, jobId),
    finished: await redis.zscore(JOB_KEYS.finishedJobs, jobId),
    active: await redis.sismember(JOB_KEYS.activeJobs, jobId),
  };
}

describe('finished-job retention (real redis-server)', () => {
  const redis = redisPerSuite();
  let core: CoreHarness;
  let worker: TestWorker;
  let releaseGate: () => void;
  beforeEach(async () => {
    core = await startCore(redis.url);
    const gate = new Promise<void>((resolve) => (releaseGate = resolve));
    worker = await new TestWorker({
      url: redis.url,
      tasks,
      handlers: {
        'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }),
        // a = 5 is held RUNNING until the test ends
        'test.add': async (p: { inputs: JsonObject }) => {
          if (p.inputs.a === 5) await gate;
          return { sum: (p.inputs.a as number) + (p.inputs.b as number) };
        },
      },
    }).start();
  });
  afterEach(async () => {
    releaseGate();
    await worker.stop();
    await core.close();
  });

  const finishedAt = async (jobId: string) => Number(await redis.client.zscore(JOB_KEYS.finishedJobs, jobId));

  /** A sweeper whose clock makes everything finished at or before `cutoffMs` older than one day of retention. */
  const sweeperAt = (cutoffMs: number, redis: Redis = core.redis, purged: number[] = []) =>
    new JobRetention(
      redis,
      core.enqueuer,
      { retentionMs: MS_PER_DAY, batchSize: 100 },
      core.logger,
      { ...NO_METRICS, jobsPurged: (n) => purged.push(n) },
      () => cutoffMs + MS_PER_DAY,
    );

  /** A sweeper as sweeperAt, with its own batch size, time bound and logger. */
  const boundedAt = (
    cutoffMs: number,
    config: { batchSize: number; passMaxMs?: number },
    logger = quietLogger(),
    purged: number[] = [],
  ) =>
    new JobRetention(
      core.redis,
      core.enqueuer,
      { retentionMs: MS_PER_DAY, ...config },
      logger,
      { ...NO_METRICS, jobsPurged: (n) => purged.push(n) },
      () => cutoffMs + MS_PER_DAY,
    );

  /** `n` jobs finished (SUCCEEDED); the cutoff that makes all of them old. */
  async function finishedBacklog(n: number): Promise<{ ids: string[]; cutoff: number }> {
    const ids = await Promise.all(Array.from({ length: n }, () => succeeded()));
    return { ids, cutoff: Math.max(...(await Promise.all(ids.map(finishedAt)))) };
  }

  async function succeeded(extra: object = {}): Promise<string> {
    const { job } = await core.service.submitJob(TENANT, single('test.emit', { value: 1 }, extra));
    await waitForJob(core, TENANT, job.id, (v) => v.job.status === 'SUCCEEDED');
    return job.id;
  }

  /** A job whose node failed (non-retryable: the worker has no test.join handler): dead-lettered, marker set. */
  async function failed(): Promise<string> {
    const { job } = await core.service.submitJob(TENANT, single('test.join', { left: 1, right: 2 }));
    await waitForJob(core, TENANT, job.id, (v) => v.job.status === 'FAILED');
    return job.id;
  }

  it('deletes an old finished job and every key of it; a recent finished job and a running job are untouched', async () => {
    const old = await succeeded({ idempotencyKey: 'order-1' });
    const oldFailed = await failed();
    const { job: cancelled } = await core.service.submitJob(TENANT, single('test.add', { a: 3, b: 4 }));
    await core.service.cancelJob(TENANT, cancelled.id);
    // a worker that leased the attempt before the cancel has let go of it (it holds nothing 30 days later)
    await waitFor(async () => (await core.enqueuer.state('cpu', cancelled.id, 'only', 1)) !== 'active');
    // the artifacts subgraph's key for the job stays (its own retention reads it)
    await redis.client.sadd(REDIS_KEYS.jobArtifacts(old), 'artifact-1');
    // an event stream as jobs written before the event log became a list have it: deleted with the job too
    await redis.client.xadd(JOB_KEYS.events(old), '0-1', 'e', '{}');
    const oldKeys = await keysOf(redis.client, old);
    expect(oldKeys).toEqual(
      expect.arrayContaining([
        JOB_KEYS.job(old),
        JOB_KEYS.node(old, 'only'),
        JOB_KEYS.eventLog(old),
        JOB_KEYS.events(old),
        `${BULLMQ_PREFIX}:sy-nodes-cpu:${old}.only.1`,
      ]),
    );
    expect(await redis.client.get(JOB_KEYS.idempotency(TENANT, 'order-1'))).toBe(old);
    expect(await keysOf(redis.client, oldFailed)).toContain(JOB_KEYS.cancelled(oldFailed));
    expect((await memberships(redis.client, oldFailed)).deadLetter).not.toBeNull();

    const cutoff = Math.max(
      await finishedAt(old),
      await finishedAt(oldFailed),
      await finishedAt(cancelled.id),
    );
    await new Promise((r) => setTimeout(r, 5));
    const recent = await succeeded({ idempotencyKey: 'order-2' });
    expect(await finishedAt(recent)).toBeGreaterThan(cutoff);
    const { job: running } = await core.service.submitJob(TENANT, single('test.add', { a: 5, b: 6 }));
    await waitForJob(core, TENANT, running.id, (v) => v.job.status === 'RUNNING');
    const recentKeys = await keysOf(redis.client, recent);
    const runningKeys = await keysOf(redis.client, running.id);
    const recentHash = await redis.client.hgetall(JOB_KEYS.job(recent));

    const purged: number[] = [];
    const summary = await sweeperAt(cutoff, core.redis, purged).sweepOnce();

    expect(summary).toEqual({
      selected: 3,
      deleted: 3,
      kept: 0,
      missing: 0,
      failed: 0,
      batches: 1,
      backlog: 0,
    });
    expect(purged).toEqual([3]);
    for (const id of [old, oldFailed, cancelled.id]) {
      expect(await keysOf(redis.client, id)).toEqual([]);
      expect(await memberships(redis.client, id)).toEqual({
        tenantJobs: null,
        deadLetter: null,
        finished: null,
        active: 0,
      });
      // job(id) answers as for an unknown job; mutations answer NOT_FOUND
      expect(await core.service.job(TENANT, id)).toBeNull();
      await expect(core.service.retryJob(TENANT, id)).rejects.toBeInstanceOf(DomainError);
      await expect(core.service.retryJob(TENANT, id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    expect(await redis.client.get(JOB_KEYS.idempotency(TENANT, 'order-1'))).toBeNull();
    expect(await redis.client.smembers(REDIS_KEYS.jobArtifacts(old))).toEqual(['artifact-1']);

    expect(await keysOf(redis.client, recent)).toEqual(recentKeys);
    expect(await redis.client.hgetall(JOB_KEYS.job(recent))).toEqual(recentHash);
    expect(await redis.client.get(JOB_KEYS.idempotency(TENANT, 'order-2'))).toBe(recent);
    expect((await memberships(redis.client, recent)).tenantJobs).not.toBeNull();
    expect(await keysOf(redis.client, running.id)).toEqual(runningKeys);
    expect((await core.service.job(TENANT, running.id))?.job.status).toBe('RUNNING');
    const page = await core.service.jobs(TENANT, {}, 10);
    expect(page.jobs.map((j) => j.view.job.id).sort()).toEqual([recent, running.id].sort());

    // the idempotency key of a deleted job is free again: a new submit creates a new job
    const again = await core.service.submitJob(
      TENANT,
      single('test.emit', { value: 1 }, { idempotencyKey: 'order-1' }),
    );
    expect(again.job.id).not.toBe(old);
  });

  it('re-checks inside the script: an unfinished job in the index is kept, and a stale entry is dropped', async () => {
    const { job: running } = await core.service.submitJob(TENANT, single('test.add', { a: 5, b: 1 }));
    await waitForJob(core, TENANT, running.id, (v) => v.job.status === 'RUNNING');
    await redis.client.zadd(JOB_KEYS.finishedJobs, 1, running.id);
    await redis.client.zadd(JOB_KEYS.finishedJobs, 1, 'no-such-job');
    const before = await keysOf(redis.client, running.id);

    const summary = await sweeperAt(Date.now()).sweepOnce();

    expect(summary).toMatchObject({ selected: 2, deleted: 0, kept: 1, missing: 1 });
    expect(await keysOf(redis.client, running.id)).toEqual(before);
    expect(await redis.client.zscore(JOB_KEYS.finishedJobs, 'no-such-job')).toBeNull();
  });

  it('one pass drains more due jobs than one batch, past entries the script keeps (the old sweep took one batch)', async () => {
    const { ids, cutoff } = await finishedBacklog(7);
    // an entry the script keeps (its job is not terminal), oldest of all: later batches go past it
    const { job: running } = await core.service.submitJob(TENANT, single('test.add', { a: 5, b: 2 }));
    await waitForJob(core, TENANT, running.id, (v) => v.job.status === 'RUNNING');
    await redis.client.zadd(JOB_KEYS.finishedJobs, 1, running.id);
    const purged: number[] = [];
    const logger = quietLogger();
    const sweeper = boundedAt(cutoff, { batchSize: 3, passMaxMs: 60_000 }, logger, purged);
    expect(await redis.client.zcount(JOB_KEYS.finishedJobs, '-inf', cutoff)).toBe(8);

    const summary = await sweeper.sweepOnce();

    // batches of 3 from offsets 0, 1 (past the kept entry), 1: [kept + 2 deleted], [3 deleted], [2 deleted]
    expect(summary).toEqual({
      selected: 8,
      deleted: 7,
      kept: 1,
      missing: 0,
      failed: 0,
      batches: 3,
      backlog: 1,
    });
    expect(purged).toEqual([2, 3, 2]);
    for (const id of ids) expect(await redis.client.exists(JOB_KEYS.job(id))).toBe(0);
    // what switchyard_jobs_retention_due reads
    expect(await sweeper.due()).toBe(1);
    expect((await core.service.job(TENANT, running.id))?.job.status).toBe('RUNNING');
    // a drained pass (the kept entry aside) does not warn
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('a pass ends after the batch it is in once its time bound has passed or the lease is lost; the next goes on', async () => {
    const { ids, cutoff } = await finishedBacklog(7);
    const logger = quietLogger();

    const first = await boundedAt(cutoff, { batchSize: 3, passMaxMs: 0 }, logger).sweepOnce();
    expect(first).toMatchObject({ selected: 3, deleted: 3, batches: 1, backlog: 4 });
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        msg: 'retention pass left due jobs for the next pass',
        fields: expect.objectContaining({ deleted: 3, batches: 1, backlog: 4 }),
      },
    ]);

    // the leader loop's stillLeader() answering false (lease lost, loop stopping) ends it the same way
    const second = await boundedAt(cutoff, { batchSize: 3, passMaxMs: 60_000 }).sweepOnce(() => false);
    expect(second).toMatchObject({ selected: 3, deleted: 3, batches: 1, backlog: 1 });

    const third = await boundedAt(cutoff, { batchSize: 3 }).sweepOnce();
    expect(third).toMatchObject({ selected: 1, deleted: 1, batches: 1, backlog: 0 });
    for (const id of ids) expect(await keysOf(redis.client, id)).toEqual([]);
  });

  it('a job retried between selection and deletion is not deleted', async () => {
    const jobId = await failed();
    const cutoff = await finishedAt(jobId);
    // a connection whose first read after the selection lets retryJob run first: a real interleaving
    const racing = new Redis(redis.url);
    const hmget = racing.hmget.bind(racing) as (...a: unknown[]) => Promise<Array<string | null>>;
    let retried = false;
    (racing as unknown as { hmget: typeof hmget }).hmget = async (...args: unknown[]) => {
      if (!retried) {
        retried = true;
        await core.service.retryJob(TENANT, jobId);
      }
      return hmget(...args);
    };
    try {
      const summary = await sweeperAt(cutoff, racing).sweepOnce();
      expect(retried).toBe(true);
      expect(summary).toMatchObject({ selected: 1, deleted: 0, kept: 1 });
      // the retried job may already have run (and failed) again: then it finished after the cutoff
      expect(await core.service.job(TENANT, jobId)).not.toBeNull();
      const refinished = await redis.client.zscore(JOB_KEYS.finishedJobs, jobId);
      expect(refinished === null || Number(refinished) > cutoff).toBe(true);
      expect(await redis.client.exists(JOB_KEYS.eventLog(jobId), JOB_KEYS.node(jobId, 'only'))).toBe(2);
      expect((await memberships(redis.client, jobId)).tenantJobs).not.toBeNull();
    } finally {
      await racing.quit();
    }
  });

  it('the leader loop sweeps (one log line per pass with counts); JOB_RETENTION_DAYS=0 deletes nothing', async () => {
    const {
      ids: [jobId, other],
      cutoff,
    } = await finishedBacklog(2);

    const off = loadJobsSubgraphConfig({ JOB_RETENTION_DAYS: '0' });
    expect(off.JOB_RETENTION_DAYS).toBe(0);
    expect(loadJobsSubgraphConfig({}).JOB_RETENTION_DAYS).toBe(30);
    expect(() => loadJobsSubgraphConfig({ JOB_RETENTION_DAYS: '-1' })).toThrow(ConfigError);
    expect(loadJobsSubgraphConfig({}).JOB_RETENTION_PASS_MAX_MS).toBe(1000);
    expect(loadJobsSubgraphConfig({ JOB_RETENTION_PASS_MAX_MS: '0' }).JOB_RETENTION_PASS_MAX_MS).toBe(0);
    expect(() => loadJobsSubgraphConfig({ JOB_RETENTION_PASS_MAX_MS: 'soon' })).toThrow(
      /JOB_RETENTION_PASS_MAX_MS/,
    );
    const disabled = new JobRetention(
      core.redis,
      core.enqueuer,
      { retentionMs: off.JOB_RETENTION_DAYS * MS_PER_DAY, batchSize: 100 },
      core.logger,
      NO_METRICS,
      () => cutoff + 3650 * MS_PER_DAY,
    );
    expect(await disabled.sweepOnce()).toMatchObject({ selected: 0, deleted: 0 });
    expect(await redis.client.exists(JOB_KEYS.job(jobId))).toBe(1);

    const logger = quietLogger();
    const loops = new LeaderLoops(
      core.redis,
      core.reconciler,
      { leaseTtlMs: 2_000, reconcileIntervalMs: 50 },
      logger,
      // batches of one: the leader's pass takes as many as are due
      { retention: boundedAt(cutoff, { batchSize: 1, passMaxMs: 60_000 }) },
    );
    loops.start();
    try {
      await waitFor(
        async () => (await redis.client.exists(JOB_KEYS.job(jobId), JOB_KEYS.job(other!))) === 0 || null,
        {
          timeoutMs: 10_000,
          what: 'the leader to delete the old jobs',
        },
      );
    } finally {
      await loops.stop();
    }
    expect(await keysOf(redis.client, jobId!)).toEqual([]);
    expect(await keysOf(redis.client, other!)).toEqual([]);
    const passes = logger.lines.filter((l) => l.msg === 'retention pass');
    expect(passes[0]?.fields).toMatchObject({ selected: 2, deleted: 2, kept: 0, batches: 3, backlog: 0 });
  });
});
