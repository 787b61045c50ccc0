import { REDIS_KEYS } from '#libs/contracts';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ArtifactRepository, LOCAL_S3_CREDENTIALS, ObjectStore } from '#libs/storage';
import { startRedis, startS3, tempDir, type RedisHandle, type S3Handle } from '#libs/testing';
import type { StorageRequest } from '../runner/ipc-protocol.js';
import { ScratchDir } from '../runner/scratch-dir.js';
import { AttemptStorage } from './attempt-storage.js';

// The actor does the runner's artifact I/O: for exactly its attempt, and only on files of its scratch dir.
const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const attempt = { jobId: 'j1', nodeId: 'n1', attempt: 1, tenant: 'alice' };

describe('AttemptStorage', () => {
  let redisServer: RedisHandle;
  let s3: S3Handle;
  let redis: Redis;
  let repo: ArtifactRepository;

  beforeAll(async () => {
    [redisServer, s3] = await Promise.all([startRedis(), startS3()]);
    redis = new Redis(redisServer.url);
    const store = new ObjectStore(
      {
        endpoint: s3.endpoint,
        accessKey: LOCAL_S3_CREDENTIALS.accessKey,
        secretKey: s3.secretKey,
        bucket: 'attempt-storage',
        retry: { attempts: 2, baseDelayMs: 20 },
      },
      quiet,
    );
    await store.start();
    repo = new ArtifactRepository(redis, store, quiet);
  }, 60_000);
  afterAll(async () => {
    redis?.disconnect();
    await Promise.all([s3?.stop(), redisServer?.stop()]);
  });

  it('stages files of the scratch dir, refuses anything outside it, and fetches back only what the tenant may read', async () => {
    const workDir = tempDir('attempt-storage');
    const storage = new AttemptStorage(repo, attempt, new ScratchDir(workDir));
    const req = (over: Partial<StorageRequest> & Pick<StorageRequest, 'op'>): StorageRequest => ({
      type: 'storage',
      runId: 'r',
      requestId: 'q',
      ...over,
    });

    writeFileSync(join(workDir, 'out.txt'), 'hello');
    const staged = await storage.handle(
      req({ op: 'stage', path: join(workDir, 'out.txt'), name: 'out.txt', contentType: 'text/plain' }),
    );
    expect(staged.error).toBeUndefined();
    const record = await repo.get(staged.artifactId!);
    expect(record).toMatchObject({ tenant: 'alice', jobId: 'j1', nodeId: 'n1', attempt: 1, size: 5 });

    // outside the scratch dir: a path, a ../ escape, a symlink pointing out — all refused, nothing staged
    const outside = join(tempDir('elsewhere'), 'secret');
    writeFileSync(outside, 'secret');
    mkdirSync(join(workDir, 'sub'));
    symlinkSync(outside, join(workDir, 'sub', 'link'));
    for (const path of [
      outside,
      join(workDir, '..', 'x'),
      join(workDir, 'sub', 'link'),
      '/proc/self/environ',
    ]) {
      const r = await storage.handle(req({ op: 'stage', path, name: 'x', contentType: 'text/plain' }));
      expect(r).toEqual({
        error: expect.objectContaining({
          code: 'TASK_FAILED',
          retryable: false,
          message: expect.stringMatching(/scratch/),
        }),
      });
    }

    // a staged (uncommitted) artifact is not readable yet; an unknown id is bad input
    expect((await storage.handle(req({ op: 'stat', artifactId: staged.artifactId }))).error).toMatchObject({
      code: 'INVALID_INPUT',
    });
    await redis.hset(REDIS_KEYS.artifact(staged.artifactId!), 'state', 'committed');
    expect(await storage.handle(req({ op: 'stat', artifactId: staged.artifactId }))).toEqual({
      stat: { name: 'out.txt', contentType: 'text/plain', size: 5 },
    });
    const fetched = await storage.handle(req({ op: 'fetch', artifactId: staged.artifactId }));
    expect(fetched.path!.startsWith(join(workDir, '.artifacts'))).toBe(true);
    // another tenant's attempt does not see it at all
    const bob = new AttemptStorage(repo, { ...attempt, tenant: 'bob' }, new ScratchDir(tempDir('bob')));
    expect((await bob.handle(req({ op: 'fetch', artifactId: staged.artifactId }))).error).toMatchObject({
      code: 'INVALID_INPUT',
    });
  });

  it("keeps the attempt's staged outputs from the orphan sweep until its deadline", async () => {
    const workDir = tempDir('attempt-deadline');
    const deadline = new Date(Date.now() + 12 * 3600_000);
    const storage = new AttemptStorage(
      repo,
      { ...attempt, nodeId: 'long' },
      new ScratchDir(workDir),
      deadline,
    );
    writeFileSync(join(workDir, 'ckpt.bin'), 'weights');
    const staged = await storage.handle({
      type: 'storage',
      runId: 'r',
      requestId: 'q',
      op: 'stage',
      path: join(workDir, 'ckpt.bin'),
      name: 'ckpt.bin',
      contentType: 'application/octet-stream',
    });
    // the uncommitted index scores it from the deadline, not from when it was staged
    expect(Number(await redis.zscore(REDIS_KEYS.uncommittedArtifacts, staged.artifactId!))).toBe(
      deadline.getTime(),
    );
  });
});
