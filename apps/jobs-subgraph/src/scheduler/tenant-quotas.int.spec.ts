import { type NodeReport } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { redisPerSuite } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { diamond, single } from '../../test/scenario.js';
import { refusal, snapshot } from '../../test/redis-snapshot.js';
import { JOB_KEYS } from './keys.js';
import { TenantUsageAudit } from './tenant-usage-audit.js';
import { JobRetention } from './job-retention.js';

const A = 'tenant-a';
const B = 'tenant-b';
const emit = (value = 1, extra = {}) => single('test.emit', { value }, extra);

/** Ground truth from the job and node hashes: the tenant's unfinished jobs and their unfinished nodes. */
async function truth(core: CoreHarness, tenant: string): Promise<{ active: string[]; openNodes: number }> {
  const active: string[] = [];
  let openNodes = 0;
  for (const id of await core.redis.zrange(JOB_KEYS.tenantJobs(tenant), '0', '-1')) {
    const view = await core.service.job(tenant, id);
    if (!view || !['QUEUED', 'RUNNING'].includes(view.job.status)) continue;
    active.push(id);
    openNodes += view.nodes.filter((n) => !['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(n.status)).length;
  }
  return { active: active.sort(), openNodes };
}

async function bookkeeping(core: CoreHarness, tenant: string) {
  const indexed = [
    ...(await core.redis.zrange(JOB_KEYS.tenantJobsByStatus(tenant, 'QUEUED'), '0', '-1')),
    ...(await core.redis.zrange(JOB_KEYS.tenantJobsByStatus(tenant, 'RUNNING'), '0', '-1')),
  ].sort();
  const openNodes = Number((await core.redis.hget(JOB_KEYS.tenantUsage(tenant), 'openNodes')) ?? 0);
  return { active: indexed, openNodes };
}

describe('per-tenant quotas against a real redis-server', () => {
  const redis = redisPerSuite();
  let core: CoreHarness;
  let manifestOnly: TestWorker;
  const refused: string[] = [];

  beforeEach(async () => {
    refused.length = 0;
    core = await startCore(redis.url, {
      startConsumer: false,
      quotas: { maxActiveJobs: 3, maxQueuedNodes: 6 },
      service: { onQuotaRefused: (q) => refused.push(q) },
    });
    // offers the test tasks but leases nothing: jobs stay QUEUED until the test reports on their behalf
    manifestOnly = await new TestWorker({
      url: redis.url,
      tasks: Object.values(TEST_TASKS),
      handlers: {},
      resourceClasses: [],
    }).start();
  });
  afterEach(async () => {
    await manifestOnly.stop();
    await core.close();
  });

  const report = (r: Omit<NodeReport, 'tenant' | 'workerId' | 'at'> & Record<string, unknown>) =>
    core.scheduler.applyReport({
      tenant: A,
      workerId: 'w',
      at: new Date().toISOString(),
      ...r,
    } as NodeReport);

  it('refuses the job past TENANT_MAX_ACTIVE_JOBS with QUOTA_EXCEEDED, writes nothing, and serves another tenant', async () => {
    for (let i = 0; i < 3; i++) await core.service.submitJob(A, emit(i));
    const before = await snapshot(core.redis);
    const e = await refusal(core.service.submitJob(A, emit(9)));
    expect(e.code).toBe('QUOTA_EXCEEDED');
    expect(e.extensions).toEqual({ limit: 'activeJobs', max: 3, used: 3, requested: 1 });
    expect(await snapshot(core.redis)).toEqual(before);
    expect(refused).toEqual(['activeJobs']);
    const other = await core.service.submitJob(B, emit(1));
    expect(other.job.status).toBe('QUEUED');
  });

  it('lets exactly the quota through when many submits race', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => core.service.submitJob(A, emit(i))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as DomainError] : []));
    expect(errors.map((e) => e.code)).toEqual(Array(17).fill('QUOTA_EXCEEDED'));
    expect(await bookkeeping(core, A)).toEqual(await truth(core, A));
  });

  it('refuses a job whose nodes would pass TENANT_MAX_QUEUED_NODES', async () => {
    await core.service.submitJob(A, diamond(1)); // 4 open nodes of 6
    const before = await snapshot(core.redis);
    const e = await refusal(core.service.submitJob(A, diamond(2)));
    expect(e.code).toBe('QUOTA_EXCEEDED');
    expect(e.extensions).toEqual({ limit: 'queuedNodes', max: 6, used: 4, requested: 4 });
    expect(await snapshot(core.redis)).toEqual(before);
    // an idempotent repeat of an existing job is not a new job: answered whatever the quota
    const first = await core.service.submitJob(A, emit(1, { idempotencyKey: 'k' }));
    const again = await core.service.submitJob(A, emit(1, { idempotencyKey: 'k' }));
    expect(again.job.id).toBe(first.job.id);
  });

  it('keeps the counters exact through start, success, failure, cancel, retry and purge', async () => {
    const check = async () => expect(await bookkeeping(core, A)).toEqual(await truth(core, A));
    const d = (await core.service.submitJob(A, diamond(1))).job.id;
    const s = (await core.service.submitJob(A, emit(1))).job.id;
    await check();
    await report({ type: 'started', jobId: d, nodeId: 'A', attempt: 1, actorId: 'x' });
    await check();
    await report({
      type: 'succeeded',
      jobId: d,
      nodeId: 'A',
      attempt: 1,
      outputs: { value: 1 },
      artifactIds: [],
    });
    await check();
    expect((await bookkeeping(core, A)).openNodes).toBe(4);
    // B fails for good: the job fails, C and D are cancelled
    await report({
      type: 'failed',
      jobId: d,
      nodeId: 'B',
      attempt: 1,
      error: { code: 'TASK_FAILED', message: 'no', retryable: false },
    });
    await check();
    expect((await bookkeeping(core, A)).openNodes).toBe(1);
    await core.service.cancelJob(A, s);
    await check();
    expect(await bookkeeping(core, A)).toEqual({ active: [], openNodes: 0 });
    expect(await core.redis.zrange(JOB_KEYS.tenantJobsByStatus(A, 'FAILED'), '0', '-1')).toEqual([d]);
    expect(await core.redis.zrange(JOB_KEYS.tenantJobsByStatus(A, 'CANCELLED'), '0', '-1')).toEqual([s]);
    // retry reopens what did not succeed: B, C, D
    await core.service.retryJob(A, d);
    await check();
    expect((await bookkeeping(core, A)).openNodes).toBe(3);
    await core.service.cancelJob(A, d);
    await check();
    // retention deletes both: out of every index
    const retention = new JobRetention(
      core.redis,
      core.enqueuer,
      { retentionMs: 1, batchSize: 10 },
      core.logger,
    );
    await new Promise((r) => setTimeout(r, 5));
    expect((await retention.sweepOnce()).deleted).toBe(2);
    for (const st of ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'])
      expect(await core.redis.exists(JOB_KEYS.tenantJobsByStatus(A, st))).toBe(0);
    await check();
    // and the audit finds nothing to repair
    const audit = await new TenantUsageAudit(core.redis, core.logger).auditOnce();
    expect(audit.repaired).toBe(0);
  });

  it('refuses a retry that would pass the quota, changing nothing', async () => {
    const j = (await core.service.submitJob(A, emit(1))).job.id;
    await core.service.cancelJob(A, j);
    for (let i = 0; i < 3; i++) await core.service.submitJob(A, emit(i));
    const before = await snapshot(core.redis);
    const e = await refusal(core.service.retryJob(A, j));
    expect(e.code).toBe('QUOTA_EXCEEDED');
    expect(e.extensions).toMatchObject({ limit: 'activeJobs', max: 3, used: 3 });
    expect(await snapshot(core.redis)).toEqual(before);
    expect((await core.service.job(A, j))!.job.status).toBe('CANCELLED');
  });

  it("the leader's audit repairs a wrong counter and unfinished jobs missing from their index", async () => {
    const j1 = (await core.service.submitJob(A, diamond(1))).job.id;
    await core.service.submitJob(A, emit(1));
    // as if j1 had been submitted before the indexes existed, and the counter had been edited
    await core.redis.zrem(JOB_KEYS.tenantJobsByStatus(A, 'QUEUED'), j1);
    await core.redis.hset(JOB_KEYS.tenantUsage(A), 'openNodes', 99);
    const repairs: number[] = [];
    const summary = await new TenantUsageAudit(core.redis, core.logger, (n) => repairs.push(n)).auditOnce();
    expect(summary).toEqual({ tenants: 1, repaired: 1, indexed: 1, dropped: 0 });
    expect(repairs).toEqual([1]);
    expect(await bookkeeping(core, A)).toEqual(await truth(core, A));
    expect(core.logger.lines.some((l) => l.msg === 'quota usage repaired')).toBe(true);
  });

  describe('labels', () => {
    it('refuses more than 16 KB of labels with QUOTA_EXCEEDED and writes nothing', async () => {
      const before = await snapshot(core.redis);
      const e = await refusal(core.service.submitJob(A, emit(1, { labels: { big: 'x'.repeat(200_000) } })));
      expect(e.code).toBe('QUOTA_EXCEEDED');
      expect(e.extensions).toMatchObject({ limit: 'labelBytes', max: 16_384, used: 0 });
      expect(e.extensions.requested).toBeGreaterThan(200_000);
      expect(await snapshot(core.redis)).toEqual(before);
      expect(refused).toEqual(['labelBytes']);
    });

    it('refuses more than 64 keys, and malformed keys with BAD_USER_INPUT', async () => {
      const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
      const e = await refusal(core.service.submitJob(A, emit(1, { labels: many })));
      expect(e.extensions).toEqual({ limit: 'labelKeys', max: 64, used: 0, requested: 65 });
      const bad = await refusal(core.service.submitJob(A, emit(1, { labels: { ['k'.repeat(129)]: 1 } })));
      expect(bad.code).toBe('BAD_USER_INPUT');
      const notObject = await refusal(core.service.submitJob(A, { ...emit(1), labels: 'x' as never }));
      expect(notObject.code).toBe('BAD_USER_INPUT');
      // validateGraph answers the same refusals, typed
      const v = await refusal(core.service.validateGraph(emit(1, { labels: many })));
      expect(v.code).toBe('QUOTA_EXCEEDED');
      expect(await core.redis.keys(JOB_KEYS.job('*'))).toEqual([]);
    });

    it('keeps labels that fit', async () => {
      const labels = { team: 'vision', run: 'x'.repeat(10_000), nested: { a: [1, null, 'b'] } };
      const ok = await core.service.submitJob(A, emit(1, { labels }));
      expect(ok.job.labels).toEqual(labels);
      expect((await core.service.job(A, ok.job.id))!.job.labels).toEqual(labels);
    });

    it('refuses JSON nested deeper than the parsers should walk with BAD_USER_INPUT', async () => {
      let deep: unknown = 1;
      for (let i = 0; i < 100_000; i++) deep = [deep];
      const e = await refusal(core.service.submitJob(A, emit(1, { labels: { deep } as never })));
      expect(e.code).toBe('BAD_USER_INPUT');
      expect(await core.redis.keys(JOB_KEYS.job('*'))).toEqual([]);
    });
  });
});
