/**
 * Artifact retention (the artifacts subgraph's sweep) against a job's life: a job's outputs are kept while the job
 * may still read them (it runs, or may be retried), and retention counts from the job's finish.
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
const DAY = 24 * 3600_000;

describe('artifact retention and the job that made them', () => {
  const redis = redisPerSuite();
  let s3: S3Handle;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it("keeps a live job's outputs past retention, and counts retention from the job's finish", async () => {
    const core = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    const client = new Redis(redis.url);
    const store = new ObjectStore(
      { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'retention' },
      quiet,
    );
    await store.start();
    const repo = new ArtifactRepository(client, store, quiet);
    const sweeper = new ArtifactSweeper(
      client,
      repo,
      { orphanGraceMs: DAY / 4, retentionMs: 30 * DAY, batchSize: 500 },
      quiet,
    );
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
      const a = await repo.stage({
        tenant: TENANT,
        jobId: job.id,
        nodeId: 'A',
        attempt: 1,
        name: 'data.bin',
        contentType: 'application/octet-stream',
        source: Buffer.from('data'),
      });
      await core.scheduler.applyReport({
        ...reportFields(job.id, TENANT, { nodeId: 'A' }),
        type: 'succeeded',
        outputs: { value: 1 },
        artifactIds: [a.id],
      });
      expect((await core.service.job(TENANT, job.id))!.job.status).toBe('RUNNING'); // B still to run

      // 31 days on (a long job, or one failed and retried): its output stays while the job lives
      expect((await sweeper.sweep(new Date(t0 + 31 * DAY))).expired).toBe(0);
      expect(await repo.get(a.id)).toMatchObject({ state: 'committed' });
      expect((await repo.listForJob(job.id, TENANT)).map((r) => r.id)).toEqual([a.id]);

      await core.scheduler.applyReport({
        ...reportFields(job.id, TENANT, { nodeId: 'B' }),
        type: 'succeeded',
        outputs: { sum: 2 },
        artifactIds: [],
      });
      expect((await core.service.job(TENANT, job.id))!.job.status).toBe('SUCCEEDED');
      // the job finished now: its outputs go retention after that, not before
      expect((await sweeper.sweep(new Date(Date.now() + 29 * DAY))).expired).toBe(0);
      expect(await repo.get(a.id)).not.toBeNull();
      expect((await sweeper.sweep(new Date(t0 + 62 * DAY))).expired).toBe(1);
      expect(await repo.get(a.id)).toBeNull();
    } finally {
      client.disconnect();
      await manifest.stop();
      await core.close();
    }
  });
});
