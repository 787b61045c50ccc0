/**
 * Review (reliability, branch review-loss): the uncommitted-artifact sweep vs an attempt that is still running.
 * The orphan sweep's grace (ARTIFACT_ORPHAN_GRACE_SECONDS, default 6 h) is counted from when an output was
 * staged, and a node may run up to 7 days (NodeSpec.timeoutSeconds). Nothing ties the two: an output staged
 * early by a long attempt is swept while the attempt still runs, and its completion then fails the node for
 * good (INVALID_OUTPUT, not retryable) - the work and the artifact are lost.
 */
import { Redis } from 'ioredis';
import { type JsonObject } from '#libs/contracts';
import { redisPerSuite, startS3, type S3Handle } from '#libs/testing';
import { ArtifactRepository, ArtifactSweeper, ObjectStore, type StorageLogger } from '#libs/storage';
import { startCore } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { reportFields } from '../../test/scenario.js';

const TENANT = 'acme';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = { 'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }) };
const quiet: StorageLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const HOUR = 3600_000;

describe('review: orphan sweep vs a long-running attempt', () => {
  const redis = redisPerSuite();
  let s3: S3Handle;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('sweeps the staged output of an attempt still within its timeout; the completion then fails the job', async () => {
    const core = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    const client = new Redis(redis.url);
    const store = new ObjectStore(
      { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'review-loss' },
      quiet,
    );
    await store.start();
    const repo = new ArtifactRepository(client, store, quiet);
    try {
      // a 12-hour node (allowed: up to 7 days)
      const { job } = await core.service.submitJob(TENANT, {
        graph: { nodes: [{ id: 'only', task: 'test.emit', inputs: { value: 1 }, timeoutSeconds: 12 * 3600 }] },
      });
      const t0 = Date.now();
      await core.scheduler.applyReport({ ...reportFields(job.id, TENANT), type: 'started', actorId: 'w/cpu0' });
      // the task writes a checkpoint early in its run
      const staged = await repo.stage({
        tenant: TENANT,
        jobId: job.id,
        nodeId: 'only',
        attempt: 1,
        name: 'checkpoint.bin',
        contentType: 'application/octet-stream',
        source: Buffer.from('weights'),
      });
      // the artifacts subgraph's sweep, with its defaults, 6 h and a bit into the 12 h run
      const sweeper = new ArtifactSweeper(
        client,
        repo,
        { orphanGraceMs: 6 * HOUR, retentionMs: 30 * 24 * HOUR, batchSize: 500 },
        quiet,
      );
      const swept = await sweeper.sweep(new Date(t0 + 6 * HOUR + 60_000));
      // the node is still RUNNING, well within its timeout, yet its output is gone
      expect((await core.service.job(TENANT, job.id))!.nodes[0]!.status).toBe('RUNNING');
      expect(swept.orphans).toBe(1);
      expect(await repo.get(staged.id)).toBeNull();

      // the attempt finishes in time and reports its output
      const outcome = await core.scheduler.applyReport({
        ...reportFields(job.id, TENANT),
        type: 'succeeded',
        outputs: { value: 1 },
        artifactIds: [staged.id],
      });
      expect(outcome).toBe('applied');
      const view = (await core.service.job(TENANT, job.id))!;
      // lost: the node fails for good (not retried), the job fails, the checkpoint is gone
      expect(view.nodes[0]).toMatchObject({ status: 'FAILED' });
      expect(view.nodes[0]!.error).toMatchObject({ code: 'INVALID_OUTPUT', retryable: false });
      expect(view.job.status).toBe('FAILED');
    } finally {
      client.disconnect();
      await manifest.stop();
      await core.close();
    }
  });

  it('a re-run of the same attempt (worker SIGKILLed, BullMQ stalled redelivery) stages the same object key; the orphan sweep of the dead run record then removes the object of the committed artifact', async () => {
    const core = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    const client = new Redis(redis.url);
    const store = new ObjectStore(
      { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'review-loss' },
      quiet,
    );
    await store.start();
    const repo = new ArtifactRepository(client, store, quiet);
    try {
      const { job } = await core.service.submitJob(TENANT, {
        graph: { nodes: [{ id: 'only', task: 'test.emit', inputs: { value: 1 } }] },
      });
      const t0 = Date.now();
      const out = { tenant: TENANT, jobId: job.id, nodeId: 'only', attempt: 1, name: 'model.bin',
        contentType: 'application/octet-stream' };
      // worker A runs attempt 1, stages model.bin, and is SIGKILLed before it reports
      await core.scheduler.applyReport({ ...reportFields(job.id, TENANT, { workerId: 'A' }), type: 'started', actorId: 'A/cpu0' });
      const fromA = await repo.stage({ ...out, source: Buffer.from('model from A') });
      // BullMQ's stalled check gives the SAME attempt to worker B (docs/architecture.md), which stages the same name
      const fromB = await repo.stage({ ...out, source: Buffer.from('model from B') });
      expect(fromB.key).toBe(fromA.key); // {tenant}/{job}/{node}/{attempt}/{name}: one object for both records
      expect(
        await core.scheduler.applyReport({
          ...reportFields(job.id, TENANT, { workerId: 'B' }),
          type: 'succeeded',
          outputs: { value: 1 },
          artifactIds: [fromB.id],
        }),
      ).toBe('applied');
      expect((await core.service.job(TENANT, job.id))!.job.status).toBe('SUCCEEDED');
      expect((await repo.getVisible(fromB.id, TENANT))?.state).toBe('committed');

      // 6 h later the orphan sweep removes A's uncommitted record - and with it the object both records name
      const sweeper = new ArtifactSweeper(
        client,
        repo,
        { orphanGraceMs: 6 * HOUR, retentionMs: 30 * 24 * HOUR, batchSize: 500 },
        quiet,
      );
      expect((await sweeper.sweep(new Date(t0 + 6 * HOUR + 60_000))).orphans).toBe(1);
      // the committed artifact still lists and resolves, but its bytes are gone: lost, and nothing said so
      expect((await repo.listForJob(job.id, TENANT)).map((r) => r.id)).toEqual([fromB.id]);
      await expect(store.readAll(fromB.key)).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
    } finally {
      client.disconnect();
      await manifest.stop();
      await core.close();
    }
  });

  it('retention deletes a committed artifact by its age alone, while its job is live (a retried job) and a queued node needs it', async () => {
    const core = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    const client = new Redis(redis.url);
    const store = new ObjectStore(
      { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'review-loss' },
      quiet,
    );
    await store.start();
    const repo = new ArtifactRepository(client, store, quiet);
    try {
      const { job } = await core.service.submitJob(TENANT, {
        graph: {
          nodes: [
            { id: 'A', task: 'test.emit', inputs: { value: 1 } },
            { id: 'B', task: 'test.add', inputs: { a: { $ref: 'A.outputs.value' }, b: 1 } },
          ],
        },
      });
      const t0 = Date.now();
      const a = await repo.stage({ tenant: TENANT, jobId: job.id, nodeId: 'A', attempt: 1, name: 'data.bin',
        contentType: 'application/octet-stream', source: Buffer.from('data') });
      await core.scheduler.applyReport({
        ...reportFields(job.id, TENANT, { nodeId: 'A' }),
        type: 'succeeded',
        outputs: { value: 1 },
        artifactIds: [a.id],
      });
      const view = (await core.service.job(TENANT, job.id))!;
      expect(view.job.status).not.toMatch(/SUCCEEDED|FAILED|CANCELLED/); // B is still to run: the job is live
      const sweeper = new ArtifactSweeper(
        client,
        repo,
        { orphanGraceMs: 6 * HOUR, retentionMs: 30 * 24 * HOUR, batchSize: 500 },
        quiet,
      );
      // 31 days on (a job failed and retried within JOB_RETENTION_DAYS, or a long one): the live job's artifact goes
      expect((await sweeper.sweep(new Date(t0 + 31 * 24 * HOUR))).expired).toBe(1);
      expect(await repo.get(a.id)).toBeNull();
      expect(await repo.listForJob(job.id, TENANT)).toEqual([]);
    } finally {
      client.disconnect();
      await manifest.stop();
      await core.close();
    }
  });

  it('one attempt putting the same name twice (a checkpoint per epoch): two committed records share one object; deleting the stale one removes the bytes of the other', async () => {
    const core = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    const client = new Redis(redis.url);
    const store = new ObjectStore(
      { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'review-loss' },
      quiet,
    );
    await store.start();
    const repo = new ArtifactRepository(client, store, quiet);
    try {
      const { job } = await core.service.submitJob(TENANT, {
        graph: { nodes: [{ id: 'only', task: 'test.emit', inputs: { value: 1 } }] },
      });
      const out = { tenant: TENANT, jobId: job.id, nodeId: 'only', attempt: 1, name: 'checkpoint.pt',
        contentType: 'application/octet-stream' };
      const epoch1 = await repo.stage({ ...out, source: Buffer.from('epoch 1 weights') });
      const epoch2 = await repo.stage({ ...out, source: Buffer.from('epoch 2 weights!!') });
      await core.scheduler.applyReport({
        ...reportFields(job.id, TENANT),
        type: 'succeeded',
        outputs: { value: 1 },
        artifactIds: [epoch1.id, epoch2.id], // the runner reports every id it put
      });
      expect((await repo.listForJob(job.id, TENANT)).map((r) => r.key)).toEqual([epoch1.key, epoch1.key]);
      // epoch 1's record no longer matches its bytes (they are epoch 2's)
      const read1 = await repo.read(epoch1.id, TENANT);
      await expect((async () => { for await (const _ of read1) void _; })()).rejects.toBeDefined();
      // the client deletes the stale checkpoint: the final one loses its bytes
      expect(await repo.deleteVisible(epoch1.id, TENANT)).toBe(true);
      expect((await repo.getVisible(epoch2.id, TENANT))?.state).toBe('committed');
      await expect(store.readAll(epoch2.key)).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
    } finally {
      client.disconnect();
      await manifest.stop();
      await core.close();
    }
  });
});
