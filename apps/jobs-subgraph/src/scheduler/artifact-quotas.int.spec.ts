import { Redis } from 'ioredis';
import type { NodeReport } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { ArtifactRepository, ObjectStore, STORAGE_KEYS, type StorageLogger } from '#libs/storage';
import { redisPerSuite } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { single } from '../../test/scenario.js';
import { refusal, snapshot } from '../../test/redis-snapshot.js';
import type { TenantQuotas } from './tenant-quotas.js';

const A = 'tenant-a';
const B = 'tenant-b';
const emit = (value = 1, extra = {}) => single('test.emit', { value }, extra);
const MAX_BYTES = 1_000;
const MAX_ARTIFACTS = 5;
const QUOTAS = {
  maxActiveJobs: 100,
  maxQueuedNodes: 1_000,
  maxStoredBytes: MAX_BYTES,
  maxArtifacts: MAX_ARTIFACTS,
};
const quiet: StorageLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/**
 * The artifact quotas (TENANT_MAX_STORED_BYTES, TENANT_MAX_ARTIFACTS) the artifacts subgraph counts and enforces at
 * createUpload also stop NEW work at submit and retry: task outputs are counted but never refused, so without this a
 * tenant at its quota would keep growing its storage through jobs (new ones, or failed ones re-run).
 */
describe('artifact quotas at submit and retry, against a real redis-server', () => {
  const redis = redisPerSuite();
  let core: CoreHarness | undefined;
  let manifestOnly: TestWorker;
  const refused: string[] = [];

  const start = async (quotas: TenantQuotas) => {
    core = await startCore(redis.url, {
      startConsumer: false,
      quotas,
      service: { onQuotaRefused: (q) => refused.push(q) },
    });
    return core;
  };
  /** The tenant's counters, written where the artifacts subgraph and the workers keep them. */
  const setUsage = async (tenant: string, bytes: number, artifacts: number) => {
    await redis.client.set(STORAGE_KEYS.tenantStoredBytes(tenant), bytes);
    await redis.client.set(STORAGE_KEYS.tenantArtifacts(tenant), artifacts);
  };

  beforeEach(async () => {
    refused.length = 0;
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
    await core?.close();
    core = undefined;
  });

  const expectAllRefused = async (
    c: CoreHarness,
    extensions: { limit: string; max: number; used: number; requested: number },
  ) => {
    const before = await snapshot(c.redis);
    const one = await refusal(c.service.submitJob(A, emit(2)));
    expect(one.code).toBe('QUOTA_EXCEEDED');
    expect(one.extensions).toEqual(extensions);
    const batch = await c.service.submitJobs(A, [emit(3), emit(4, { idempotencyKey: 'new-key' })]);
    for (const item of batch) {
      expect(item.ok).toBe(false);
      const e = (item as { error: DomainError }).error;
      expect(e).toBeInstanceOf(DomainError);
      expect(e.code).toBe('QUOTA_EXCEEDED');
      expect(e.extensions).toEqual(extensions);
    }
    const v = await refusal(c.service.validateGraph(emit(5), A));
    expect(v.code).toBe('QUOTA_EXCEEDED');
    expect(v.extensions).toEqual(extensions);
    // what submitJob answers first still comes first: a graph the planner refuses is INVALID_GRAPH
    const invalid = await refusal(c.service.submitJob(A, single('test.nope', { value: 1 })));
    expect(invalid.code).toBe('INVALID_GRAPH');
    expect((await c.service.validateGraph(single('test.nope', { value: 1 }), A)).valid).toBe(false);
    // nothing written: no job, node, event, index entry, idempotency key or counter
    expect(await snapshot(c.redis)).toEqual(before);
    expect(refused).toEqual(Array(4).fill(extensions.limit));
  };

  it('refuses submitJob, each submitJobs item and validateGraph of a tenant at its stored-bytes quota', async () => {
    const c = await start(QUOTAS);
    const earlier = await c.service.submitJob(A, emit(1, { idempotencyKey: 'k' }));
    await setUsage(A, MAX_BYTES, 0);
    await expectAllRefused(c, { limit: 'storedBytes', max: MAX_BYTES, used: MAX_BYTES, requested: 0 });
    // an idempotent repeat is not new work: answered whatever the quota
    expect((await c.service.submitJob(A, emit(1, { idempotencyKey: 'k' }))).job.id).toBe(earlier.job.id);
    // another tenant is not affected
    expect((await c.service.submitJob(B, emit(1))).job.status).toBe('QUEUED');
    // work already accepted runs on: its outputs count but are never refused
    const report = (r: Record<string, unknown>) =>
      c.scheduler.applyReport({ tenant: A, workerId: 'w', at: new Date().toISOString(), ...r } as NodeReport);
    const id = earlier.job.id;
    await report({ type: 'started', jobId: id, nodeId: 'only', attempt: 1, actorId: 'x' });
    await report({
      type: 'succeeded',
      jobId: id,
      nodeId: 'only',
      attempt: 1,
      outputs: { value: 1 },
      artifactIds: [],
    });
    expect((await c.service.job(A, id))!.job.status).toBe('SUCCEEDED');
  });

  it('refuses at the artifact-count quota, and past it', async () => {
    const c = await start(QUOTAS);
    await setUsage(A, 0, MAX_ARTIFACTS);
    await expectAllRefused(c, { limit: 'artifacts', max: MAX_ARTIFACTS, used: MAX_ARTIFACTS, requested: 0 });
    refused.length = 0;
    // staged outputs can take a tenant past its quota: refused the same way
    await setUsage(A, MAX_BYTES + 10, MAX_ARTIFACTS + 2);
    const e = await refusal(c.service.submitJob(A, emit(1)));
    expect(e.extensions).toEqual({
      limit: 'storedBytes',
      max: MAX_BYTES,
      used: MAX_BYTES + 10,
      requested: 0,
    });
  });

  it('accepts a tenant just under both quotas', async () => {
    const c = await start(QUOTAS);
    await setUsage(A, MAX_BYTES - 1, MAX_ARTIFACTS - 1);
    expect((await c.service.validateGraph(emit(1), A)).valid).toBe(true);
    expect((await c.service.submitJob(A, emit(1))).job.status).toBe('QUEUED');
    const batch = await c.service.submitJobs(A, [emit(2), emit(3)]);
    expect(batch.map((b) => b.ok)).toEqual([true, true]);
    expect(refused).toEqual([]);
  });

  it('0 turns each quota off', async () => {
    const c = await start({ ...QUOTAS, maxStoredBytes: 0, maxArtifacts: 0 });
    await setUsage(A, 10 ** 15, 10 ** 9);
    expect((await c.service.validateGraph(emit(1), A)).valid).toBe(true);
    expect((await c.service.submitJob(A, emit(1))).job.status).toBe('QUEUED');
    expect((await c.service.submitJobs(A, [emit(2)]))[0]!.ok).toBe(true);
  });

  describe('retryJob', () => {
    /** A job of tenant A that FAILED for good (one node, its attempt failed as not retryable), and one CANCELLED. */
    const finishedJobs = async (c: CoreHarness) => {
      const failed = (await c.service.submitJob(A, emit(1))).job.id;
      const report = (r: Record<string, unknown>) =>
        c.scheduler.applyReport({
          tenant: A,
          workerId: 'w',
          at: new Date().toISOString(),
          ...r,
        } as NodeReport);
      await report({ type: 'started', jobId: failed, nodeId: 'only', attempt: 1, actorId: 'x' });
      await report({
        type: 'failed',
        jobId: failed,
        nodeId: 'only',
        attempt: 1,
        error: { code: 'TASK_FAILED', message: 'no', retryable: false },
      });
      expect((await c.service.job(A, failed))!.job.status).toBe('FAILED');
      const cancelled = (await c.service.submitJob(A, emit(2))).job.id;
      await c.service.cancelJob(A, cancelled);
      return { failed, cancelled };
    };

    // a retry re-runs nodes that write new outputs: without this a tenant over its quota grows by retrying
    it.each([
      ['storedBytes', MAX_BYTES, 0, { limit: 'storedBytes', max: MAX_BYTES, used: MAX_BYTES, requested: 0 }],
      [
        'artifacts',
        0,
        MAX_ARTIFACTS + 3,
        { limit: 'artifacts', max: MAX_ARTIFACTS, used: MAX_ARTIFACTS + 3, requested: 0 },
      ],
    ] as const)(
      'refuses a retry of a tenant at or over its %s quota, writing nothing',
      async (_n, bytes, count, ext) => {
        const c = await start(QUOTAS);
        const { failed, cancelled } = await finishedJobs(c);
        await setUsage(A, bytes, count);
        const before = await snapshot(c.redis);
        for (const id of [failed, cancelled]) {
          const e = await refusal(c.service.retryJob(A, id));
          expect(e.code).toBe('QUOTA_EXCEEDED');
          expect(e.extensions).toEqual(ext);
        }
        // nothing written: the jobs stay finished (dead letter, indexes, events, counters untouched)
        expect(await snapshot(c.redis)).toEqual(before);
        expect((await c.service.job(A, failed))!.job.status).toBe('FAILED');
        expect((await c.service.job(A, cancelled))!.job.status).toBe('CANCELLED');
        expect(refused).toEqual([ext.limit, ext.limit]);
        // another tenant's counters are not A's: B's retry goes through
        const b = (await c.service.submitJob(B, emit(1))).job.id;
        await c.service.cancelJob(B, b);
        expect((await c.service.retryJob(B, b)).job.status).toBe('QUEUED');
        // deleting artifacts (the counter going under the quota) lets A retry
        await setUsage(A, MAX_BYTES - 1, MAX_ARTIFACTS - 1);
        expect((await c.service.retryJob(A, failed)).job.status).toBe('QUEUED');
      },
    );

    it('checks the job quotas first, as submitJob does', async () => {
      const c = await start({ ...QUOTAS, maxActiveJobs: 1 });
      const { failed } = await finishedJobs(c);
      const queued = (await c.service.submitJob(A, emit(3))).job.id; // the one unfinished job the quota allows
      await setUsage(A, MAX_BYTES, MAX_ARTIFACTS);
      const e = await refusal(c.service.retryJob(A, failed));
      expect(e.extensions).toEqual({ limit: 'activeJobs', max: 1, used: 1, requested: 1 });
      // a job that cannot be retried is answered so, whatever the quotas
      expect((await refusal(c.service.retryJob(A, queued))).code).toBe('CONFLICT');
      expect(refused).toEqual(['activeJobs']);
    });

    it('retries a tenant just under both quotas', async () => {
      const c = await start(QUOTAS);
      const { failed, cancelled } = await finishedJobs(c);
      await setUsage(A, MAX_BYTES - 1, MAX_ARTIFACTS - 1);
      // the step checks the counters of the tenant it is given: another tenant's job is an error, not a retry
      await setUsage(B, 0, 0);
      const before = await snapshot(c.redis);
      await expect(c.scheduler.retry(failed, B)).rejects.toThrow(/is not of tenant/);
      expect(await snapshot(c.redis)).toEqual(before);
      expect((await c.service.retryJob(A, failed)).job.status).toBe('QUEUED');
      expect((await c.service.retryJob(A, cancelled)).job.status).toBe('QUEUED');
      expect(refused).toEqual([]);
    });

    it('0 turns each quota off for retries too', async () => {
      const c = await start({ ...QUOTAS, maxStoredBytes: 0, maxArtifacts: 0 });
      const { failed, cancelled } = await finishedJobs(c);
      await setUsage(A, 10 ** 15, 10 ** 9);
      expect((await c.service.retryJob(A, failed)).job.status).toBe('QUEUED');
      expect((await c.service.retryJob(A, cancelled)).job.status).toBe('QUEUED');
      expect(refused).toEqual([]);
    });
  });

  it('counts what the artifacts side counts: uploads fill the quota, deleting one frees it', async () => {
    const c = await start({ ...QUOTAS, maxArtifacts: 2 });
    // the artifacts subgraph's own step (reserveUpload-7.lua) on the same Redis; no object is touched
    const client = new Redis(redis.url);
    const unreachable = new ObjectStore(
      {
        endpoint: 'http://127.0.0.1:9',
        accessKey: 'x',
        secretKey: 'x',
        bucket: 'nowhere',
        retry: { attempts: 1, timeoutMs: 1_000 },
      },
      quiet,
    );
    const repo = new ArtifactRepository(client, unreachable, quiet);
    try {
      const upload = () =>
        repo.createPendingUpload({
          tenant: A,
          name: 'in.bin',
          contentType: 'application/octet-stream',
          size: 10,
          maxStoredBytes: MAX_BYTES,
          maxArtifacts: 2,
        });
      const first = await upload();
      await upload();
      const e = await refusal(c.service.submitJob(A, emit(1)));
      expect(e.extensions).toEqual({ limit: 'artifacts', max: 2, used: 2, requested: 0 });
      expect(await repo.delete(first.id, ['pending'], A)).toBe(true);
      expect((await c.service.submitJob(A, emit(1))).job.status).toBe('QUEUED');
    } finally {
      client.disconnect();
    }
  });
});
