import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { REDIS_KEYS } from '#libs/contracts';
import { ArtifactRepository, LOCAL_S3_CREDENTIALS, ObjectStore, type StorageLogger } from '#libs/storage';
import { createLocalTaskContext, runTask, type AttemptInfo, type TaskContext } from '#libs/task-sdk';
import { startRedis, startS3, type RedisHandle, type S3Handle } from '#libs/testing';
import { attemptArtifacts } from '../runner/attempt-artifacts.js';
import { imageResize } from './image-resize.task.js';
import { modelEvaluate } from './model-evaluate.task.js';
import { modelTrain } from './model-train.task.js';

/*
 * The built-in tasks over real storage (local S3 server + Redis), with the worker's own ctx.artifacts:
 * inputs are committed client uploads, outputs are staged under the attempt, and a downstream node reads
 * an upstream output only once it is committed — the train-and-evaluate flow of the template.
 */

const data = (name: string) => new URL(`../../../../data/${name}`, import.meta.url);
const quiet: StorageLogger = { debug() {}, info() {}, warn() {}, error() {} };
const tenant = 'acme';

let s3: S3Handle;
let redisServer: RedisHandle;
let redis: Redis;
let repo: ArtifactRepository;
let dir: string;

beforeAll(async () => {
  [s3, redisServer] = await Promise.all([startS3(), startRedis()]);
  redis = new Redis(redisServer.url);
  const store = new ObjectStore(
    {
      endpoint: s3.endpoint,
      accessKey: LOCAL_S3_CREDENTIALS.accessKey,
      secretKey: s3.secretKey,
      bucket: 'tasks-int',
      retry: { attempts: 2, baseDelayMs: 20 },
    },
    quiet,
  );
  await store.start();
  repo = new ArtifactRepository(redis, store, quiet);
  // client uploads go through the same store: reserve, put the object, commit with measured size and hash
  uploadThrough = async (name, contentType, bytes) => {
    const pending = await repo.createPendingUpload({ tenant, name, contentType, size: bytes.length });
    await store.put(pending.key, bytes, { contentType });
    const committed = await repo.commitUpload(pending.id, tenant, {
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    return committed!.id;
  };
}, 60_000);
afterAll(async () => {
  redis?.disconnect();
  await Promise.all([s3?.stop(), redisServer?.stop()]);
});
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'tasks-int-'))));
afterEach(() => rm(dir, { recursive: true, force: true }));

let uploadThrough: (name: string, contentType: string, bytes: Buffer) => Promise<string>;

async function contextFor(attempt: AttemptInfo): Promise<TaskContext> {
  return createLocalTaskContext({ rootDir: dir, attempt, artifacts: attemptArtifacts(repo, attempt) });
}

/** What the scheduler's completion step does to an attempt's staged artifacts. */
async function commitAttempt(a: AttemptInfo): Promise<void> {
  const ids = await redis.smembers(REDIS_KEYS.attemptArtifacts(a.jobId, a.nodeId, a.attempt));
  const m = redis.multi();
  for (const id of ids) {
    m.hset(REDIS_KEYS.artifact(id), 'state', 'committed')
      .sadd(REDIS_KEYS.jobArtifacts(a.jobId), id)
      .zrem(REDIS_KEYS.tenantUncommittedArtifacts(a.tenant), id);
  }
  await m.exec();
}

describe('built-in tasks over real storage', () => {
  it('image.resize reads an upload and stages a real resized image under its attempt', async () => {
    const image = await uploadThrough('sample.png', 'image/png', await readFile(data('sample.png')));
    const attempt = { jobId: 'job-resize', nodeId: 'thumb', attempt: 1, tenant };
    const out = await runTask(imageResize, { image, width: 32 }, await contextFor(attempt));
    expect(out).toMatchObject({ width: 32, height: 21 });
    const record = await repo.get(out.image);
    expect(record).toMatchObject({
      state: 'staged',
      tenant,
      jobId: 'job-resize',
      nodeId: 'thumb',
      contentType: 'image/png',
    });
    expect(await repo.getVisible(out.image, tenant)).toBeNull(); // invisible until the attempt commits
    await commitAttempt(attempt);
    const chunks: Buffer[] = [];
    for await (const c of await repo.read(out.image, tenant)) chunks.push(c as Buffer);
    const meta = await sharp(Buffer.concat(chunks)).metadata();
    expect([meta.width, meta.height]).toEqual([32, 21]);
  });

  it('model.train → commit → model.evaluate reproduces the metrics; another tenant cannot read the model', async () => {
    const dataset = await uploadThrough(
      'blobs-3class.csv',
      'text/csv',
      await readFile(data('blobs-3class.csv')),
    );
    const train = { jobId: 'job-ml', nodeId: 'train', attempt: 1, tenant };
    const trained = await runTask(
      modelTrain,
      { dataset, epochs: 30, validationSplit: 0 },
      await contextFor(train),
    );
    expect(trained.accuracy).toBeGreaterThan(0.85);

    const evaluate = { jobId: 'job-ml', nodeId: 'evaluate', attempt: 1, tenant };
    // before the scheduler commits train's outputs, evaluate cannot see the model: bad input, not retried
    await expect(
      runTask(modelEvaluate, { model: trained.model, dataset }, await contextFor(evaluate)),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      retryable: false,
    });
    await commitAttempt(train);
    const evaluated = await runTask(
      modelEvaluate,
      { model: trained.model, dataset },
      await contextFor(evaluate),
    );
    expect(evaluated.rows).toBe(300);
    expect(evaluated.accuracy).toBeCloseTo(trained.accuracy, 6);
    expect(evaluated.loss).toBeCloseTo(trained.loss, 4);

    const other = { jobId: 'job-x', nodeId: 'evaluate', attempt: 1, tenant: 'globex' };
    await expect(
      runTask(modelEvaluate, { model: trained.model, dataset }, await contextFor(other)),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });
});
