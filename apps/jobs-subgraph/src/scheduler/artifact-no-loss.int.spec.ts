/**
 * No staged or committed artifact is lost to another record's deletion or to the orphan sweep of a running
 * attempt (real redis-server and local S3):
 * - every staged output has its own object key (the artifact id is part of it), so a re-run of the same attempt
 *   (stalled redelivery) or a name put twice by one attempt never shares an object with another record;
 * - records already stored under the older key layout are read and deleted by the key they store;
 * - the orphan grace counts from the attempt's deadline when a worker gives it, so a long attempt's early
 *   output is kept while the attempt may still run;
 * - an output swept anyway (a worker that gives no deadline) fails its attempt as retryable, saying it expired;
 *   an id the attempt never staged is still INVALID_OUTPUT, not retried;
 * - retention keeps a job's outputs while the job may still read them (it runs, or may be retried), and counts
 *   from the job's finish;
 * - an object whose stager died (SIGKILL) between its put and its record, or whose record Redis refused while S3
 *   refused its removal, is removed by the sweep: no object is left that nothing will ever delete; and a put that
 *   outlasts that removal's grace fails its stage (retryable) instead of writing a record for a removed object.
 */
import { Redis } from 'ioredis';
import { REDIS_KEYS, type JsonObject } from '#libs/contracts';
import { bundleChild, redisPerSuite, runNodeChild, startS3, type S3Handle } from '#libs/testing';
import {
  ArtifactRepository,
  ArtifactSweeper,
  ObjectStore,
  encodeArtifactRecord,
  type StageInput,
  type StorageLogger,
} from '#libs/storage';
import { startCore } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { reportFields } from '../../test/scenario.js';
import { AfterPutStore } from '../../test/after-put-store.js';
import type { StageThenDieArgs } from '../../test/stage-then-die-child.js';

const TENANT = 'acme';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = { 'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }) };
const quiet: StorageLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const HOUR = 3600_000;
// the artifacts subgraph's defaults (ARTIFACT_ORPHAN_GRACE_SECONDS, ARTIFACT_RETENTION_DAYS)
const SWEEP = { orphanGraceMs: 6 * HOUR, retentionMs: 30 * 24 * HOUR, batchSize: 500 };

describe('artifacts: no loss to shared keys or to the orphan sweep of a running attempt', () => {
  const redis = redisPerSuite();
  let s3: S3Handle;
  let core: Awaited<ReturnType<typeof startCore>>;
  let manifest: TestWorker;
  let client: Redis;
  let store: ObjectStore;
  let repo: ArtifactRepository;
  let sweeper: ArtifactSweeper;
  let stageThenDie: string;

  beforeAll(async () => {
    [s3, stageThenDie] = await Promise.all([
      startS3(),
      bundleChild(new URL('../../test/stage-then-die-child.ts', import.meta.url)),
    ]);
  }, 60_000);
  afterAll(async () => {
    await s3?.stop();
  });
  beforeEach(async () => {
    core = await startCore(redis.url, { startConsumer: false });
    manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    client = new Redis(redis.url);
    store = new ObjectStore(
      { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'no-loss' },
      quiet,
    );
    await store.start();
    repo = new ArtifactRepository(client, store, quiet);
    sweeper = new ArtifactSweeper(client, repo, SWEEP, quiet);
  });
  afterEach(async () => {
    client?.disconnect();
    await manifest?.stop();
    await core?.close();
  });

  /** A one-node job (test.emit) and the fields of its attempt 1's outputs. */
  async function oneNodeJob(timeoutSeconds?: number) {
    const { job } = await core.service.submitJob(TENANT, {
      graph: { nodes: [{ id: 'only', task: 'test.emit', inputs: { value: 1 }, timeoutSeconds }] },
    });
    const output = { tenant: TENANT, jobId: job.id, nodeId: 'only', attempt: 1 };
    return { jobId: job.id, output };
  }
  const succeed = (jobId: string, artifactIds: string[], workerId?: string) =>
    core.scheduler.applyReport({
      ...reportFields(jobId, TENANT, workerId ? { workerId } : {}),
      type: 'succeeded',
      outputs: { value: 1 },
      artifactIds,
    });
  const stageBytes = (o: Omit<StageInput, 'name' | 'contentType' | 'source'>, name: string, text: string) =>
    repo.stage({ ...o, name, contentType: 'application/octet-stream', source: Buffer.from(text) });
  const readText = async (id: string) => {
    const chunks: Buffer[] = [];
    for await (const c of await repo.read(id, TENANT)) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };
  const nodeOf = async (jobId: string) => (await core.service.job(TENANT, jobId))!;

  it('a re-run of the same attempt stages its own object: sweeping the dead run’s record keeps the committed bytes', async () => {
    const { jobId, output } = await oneNodeJob();
    const t0 = Date.now();
    // worker A runs attempt 1, stages model.bin and is SIGKILLed; BullMQ gives the same attempt to worker B
    await core.scheduler.applyReport({
      ...reportFields(jobId, TENANT, { workerId: 'A' }),
      type: 'started',
      actorId: 'A/cpu0',
    });
    const fromA = await stageBytes(output, 'model.bin', 'model from A');
    const fromB = await stageBytes(output, 'model.bin', 'model from B');
    expect(fromB.key).not.toBe(fromA.key);
    expect(await succeed(jobId, [fromB.id], 'B')).toBe('applied');
    expect((await nodeOf(jobId)).job.status).toBe('SUCCEEDED');

    expect((await sweeper.sweep(new Date(t0 + 6 * HOUR + 60_000))).orphans).toBe(1);
    expect(await repo.get(fromA.id)).toBeNull();
    expect((await repo.listForJob(jobId, TENANT)).map((r) => r.id)).toEqual([fromB.id]);
    expect(await readText(fromB.id)).toBe('model from B');
  });

  it('one attempt putting a name twice keeps two artifacts with their own bytes; deleting one leaves the other', async () => {
    const { jobId, output } = await oneNodeJob();
    const epoch1 = await stageBytes(output, 'checkpoint.pt', 'epoch 1 weights');
    const epoch2 = await stageBytes(output, 'checkpoint.pt', 'epoch 2 weights!!');
    expect(await succeed(jobId, [epoch1.id, epoch2.id])).toBe('applied');
    const listed = await repo.listForJob(jobId, TENANT);
    expect(new Set(listed.map((r) => r.key)).size).toBe(2);
    expect(await readText(epoch1.id)).toBe('epoch 1 weights');
    expect(await repo.deleteVisible(epoch1.id, TENANT)).toBe(true);
    expect(await readText(epoch2.id)).toBe('epoch 2 weights!!');
  });

  it('a record stored under the older key layout is still read and deleted by the key it stores', async () => {
    const { jobId } = await oneNodeJob();
    const key = `${TENANT}/${jobId}/only/1/legacy.bin`; // {tenant}/{job}/{node}/{attempt}/{name}
    const stored = await store.put(key, Buffer.from('legacy bytes'), {
      contentType: 'application/octet-stream',
    });
    const record = {
      id: 'legacy-1',
      tenant: TENANT,
      state: 'committed' as const,
      key,
      name: 'legacy.bin',
      contentType: 'application/octet-stream',
      size: stored.size,
      sha256: stored.sha256,
      jobId,
      nodeId: 'only',
      attempt: 1,
      createdAt: new Date().toISOString(),
    };
    await client.hset(REDIS_KEYS.artifact(record.id), encodeArtifactRecord(record));
    await client.sadd(REDIS_KEYS.jobArtifacts(jobId), record.id);
    expect(await readText(record.id)).toBe('legacy bytes');
    expect(await repo.deleteVisible(record.id, TENANT)).toBe(true);
    expect(await store.stat(key)).toBeNull();
  });

  it('keeps a long attempt’s early output past the grace while the attempt may run, and sweeps it after its deadline', async () => {
    const { jobId, output } = await oneNodeJob(12 * 3600); // a 12-hour node (up to 7 days are allowed)
    const t0 = Date.now();
    await core.scheduler.applyReport({ ...reportFields(jobId, TENANT), type: 'started', actorId: 'w/cpu0' });
    // the actor stages with the attempt's deadline: its start plus the task's timeout
    const deadline = new Date(t0 + 12 * HOUR);
    const checkpoint = await stageBytes(
      { ...output, attemptDeadline: deadline },
      'checkpoint.bin',
      'weights',
    );
    const abandoned = await stageBytes(
      { ...output, attemptDeadline: deadline },
      'scratch.bin',
      'never reported',
    );

    expect((await sweeper.sweep(new Date(t0 + 6 * HOUR + 60_000))).orphans).toBe(0);
    expect((await sweeper.sweep(new Date(t0 + 12 * HOUR + 60_000))).orphans).toBe(0);
    expect(await succeed(jobId, [checkpoint.id])).toBe('applied');
    const view = await nodeOf(jobId);
    expect(view.nodes[0]!.status).toBe('SUCCEEDED');
    expect(await readText(checkpoint.id)).toBe('weights');

    // what the attempt never reported is an orphan once its deadline and the grace have passed
    expect((await sweeper.sweep(new Date(t0 + 18 * HOUR + 60_000))).orphans).toBe(1);
    expect(await repo.get(abandoned.id)).toBeNull();
    expect(await readText(checkpoint.id)).toBe('weights');
  });

  it('an output swept before its attempt completes fails the attempt as retryable, saying it expired', async () => {
    const { jobId, output } = await oneNodeJob(12 * 3600);
    const t0 = Date.now();
    await core.scheduler.applyReport({ ...reportFields(jobId, TENANT), type: 'started', actorId: 'w/cpu0' });
    // a worker that gives no deadline (one not yet upgraded): the grace counts from staging
    const staged = await stageBytes(output, 'checkpoint.bin', 'weights');
    expect((await sweeper.sweep(new Date(t0 + 6 * HOUR + 60_000))).orphans).toBe(1);

    expect(await succeed(jobId, [staged.id])).toBe('applied');
    const view = await nodeOf(jobId);
    expect(view.nodes[0]!.error).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
    expect(view.nodes[0]!.error!.message).toMatch(/expired/);
    expect(view.nodes[0]!.status).not.toBe('FAILED');
    expect(view.job.status).not.toBe('FAILED');
  });

  it('a swept output of another attempt is still one this attempt never staged: INVALID_OUTPUT, not retried', async () => {
    const { jobId, output } = await oneNodeJob();
    const t0 = Date.now();
    const otherAttempts = await stageBytes({ ...output, attempt: 2 }, 'model.bin', 'attempt 2');
    expect((await sweeper.sweep(new Date(t0 + 6 * HOUR + 60_000))).orphans).toBe(1);
    expect(await succeed(jobId, [otherAttempts.id])).toBe('applied');
    const view = await nodeOf(jobId);
    expect(view.nodes[0]!.error).toMatchObject({ code: 'INVALID_OUTPUT', retryable: false });
    expect(view.job.status).toBe('FAILED');
  });

  it("retention keeps a live job's outputs, and counts from the job's finish", async () => {
    const { job } = await core.service.submitJob(TENANT, {
      graph: {
        nodes: [
          { id: 'A', task: 'test.emit', inputs: { value: 1 } },
          { id: 'B', task: 'test.add', inputs: { a: { $ref: 'A.outputs.value' }, b: 1 } },
        ],
      },
    });
    const t0 = Date.now();
    const a = await stageBytes(
      { tenant: TENANT, jobId: job.id, nodeId: 'A', attempt: 1 },
      'data.bin',
      'data',
    );
    await core.scheduler.applyReport({
      ...reportFields(job.id, TENANT, { nodeId: 'A' }),
      type: 'succeeded',
      outputs: { value: 1 },
      artifactIds: [a.id],
    });
    expect((await core.service.job(TENANT, job.id))!.job.status).toBe('RUNNING'); // B still to run

    // 31 days on (a long job, or one failed and retried): its output stays while the job lives
    expect((await sweeper.sweep(new Date(t0 + 31 * 24 * HOUR))).expired).toBe(0);
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
    expect((await sweeper.sweep(new Date(Date.now() + 29 * 24 * HOUR))).expired).toBe(0);
    expect(await repo.get(a.id)).not.toBeNull();
    expect((await sweeper.sweep(new Date(t0 + 62 * 24 * HOUR))).expired).toBe(1);
    expect(await repo.get(a.id)).toBeNull();
  });

  it('an object whose worker died between its put and its record is removed by the sweep; a committed one stays', async () => {
    const { jobId, output } = await oneNodeJob();
    const t0 = Date.now();
    const args: StageThenDieArgs = {
      redisUrl: redis.url,
      s3: { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: store.bucket },
      stage: { ...output, name: 'model.bin', text: 'bytes of a worker that died' },
    };
    const died = await runNodeChild(stageThenDie, [JSON.stringify(args)]);
    expect({ signal: died.signal, stderr: died.stderr }).toEqual({ signal: 'SIGKILL', stderr: '' });
    const { put: orphanKey } = JSON.parse(died.stdout) as { put: string };
    expect(await store.stat(orphanKey)).not.toBeNull(); // stored, and no record will ever point at it
    // the attempt runs again on another worker, which stages and commits its own output
    const kept = await stageBytes(output, 'model.bin', 'model from the rerun');
    expect(await succeed(jobId, [kept.id])).toBe('applied');

    // not before a stage still putting could have written its record
    await sweeper.sweep(new Date(t0 + 60_000));
    expect(await store.stat(orphanKey)).not.toBeNull();
    await sweeper.sweep(new Date(t0 + 6 * HOUR + 60_000));
    expect(await store.stat(orphanKey)).toBeNull();
    expect(await readText(kept.id)).toBe('model from the rerun');
  });

  it('an object whose record Redis refused, and whose removal S3 refused too, is removed by the sweep once they are back', async () => {
    const { output } = await oneNodeJob();
    const t0 = Date.now();
    let orphanKey = '';
    let down = false;
    // fails fast once its server is gone, as the worker's command connection does
    const stagerRedis = new Redis(redis.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    stagerRedis.on('error', () => {});
    await stagerRedis.connect();
    const failingStore = new AfterPutStore(
      {
        endpoint: s3.endpoint,
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
        bucket: store.bucket,
        retry: { attempts: 1 },
      },
      quiet,
      async (key) => {
        orphanKey = key;
        down = true;
        await Promise.all([redis.server.kill(), s3.kill()]);
      },
    );
    const stager = new ArtifactRepository(stagerRedis, failingStore, quiet);
    try {
      await expect(
        stager.stage({
          ...output,
          name: 'model.bin',
          contentType: 'application/octet-stream',
          source: Buffer.from('x'),
        }),
      ).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
    } finally {
      stagerRedis.disconnect();
      if (down) await Promise.all([redis.server.restart(), s3.restart()]);
    }
    expect(down).toBe(true); // the put was done
    expect(await store.stat(orphanKey)).not.toBeNull();
    await sweeper.sweep(new Date(t0 + 6 * HOUR + 60_000));
    expect(await store.stat(orphanKey)).toBeNull();
  });

  it('a put that outlasts its grace fails its stage, retryable, writing no record: its object is removed', async () => {
    const { output } = await oneNodeJob();
    const t0 = Date.now();
    let key = '';
    // a sweep runs while the put is still going, with a clock past the grace: it claims the object's entry
    const slowStore = new AfterPutStore(
      { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: store.bucket },
      quiet,
      async (k) => {
        key = k;
        await sweeper.sweep(new Date(t0 + 2 * HOUR));
      },
    );
    const stager = new ArtifactRepository(client, slowStore, quiet);
    await expect(
      stager.stage({
        ...output,
        name: 'slow.bin',
        contentType: 'application/octet-stream',
        source: Buffer.from('x'),
      }),
    ).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
    expect(await client.smembers(REDIS_KEYS.attemptArtifacts(output.jobId, 'only', 1))).toEqual([]);
    expect(await repo.artifactCount(TENANT)).toBe(0);
    expect(await store.stat(key)).toBeNull(); // that sweep removed it
  });
});
