import { REDIS_KEYS } from '#libs/contracts';
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ArtifactRepository, LOCAL_S3_CREDENTIALS, ObjectStore, type StageInput } from '#libs/storage';
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

/** A repository that runs `beforeStage` once, after AttemptStorage's checks and before the object is stored. */
class HookedRepository extends ArtifactRepository {
  beforeStage: (() => void) | undefined;
  override stage(input: StageInput) {
    this.beforeStage?.();
    this.beforeStage = undefined;
    return super.stage(input);
  }
}

describe('AttemptStorage', () => {
  let redisServer: RedisHandle;
  let s3: S3Handle;
  let redis: Redis;
  let store: ObjectStore;
  let repo: HookedRepository;

  beforeAll(async () => {
    [redisServer, s3] = await Promise.all([startRedis(), startS3()]);
    redis = new Redis(redisServer.url);
    store = new ObjectStore(
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
    repo = new HookedRepository(redis, store, quiet);
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
    // nor what is not a regular file: a FIFO (whose open must not hang the actor), a directory
    execFileSync('mkfifo', [join(workDir, 'fifo')]);
    mkdirSync(join(workDir, 'dir'));
    for (const path of [
      outside,
      join(workDir, '..', 'x'),
      join(workDir, 'sub', 'link'),
      '/proc/self/environ',
      join(workDir, 'fifo'),
      join(workDir, 'dir'),
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

    expect(await redis.smembers(REDIS_KEYS.attemptArtifacts('j1', 'n1', 1))).toEqual([staged.artifactId]);

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

  it('stores the file it checked, even when a link to a file outside is swapped in under its name after the check', async () => {
    const workDir = tempDir('attempt-swap');
    const storage = new AttemptStorage(repo, { ...attempt, nodeId: 'swap' }, new ScratchDir(workDir));
    const secret = join(tempDir('swap-elsewhere'), 'secret');
    writeFileSync(secret, 'the worker host secret');
    const out = join(workDir, 'out.txt');
    writeFileSync(out, 'task output');
    // what a process of the task uid could do between the checks and the upload (one no longer lives then)
    repo.beforeStage = () => {
      renameSync(out, join(workDir, 'moved.txt'));
      symlinkSync(secret, out);
    };
    const staged = await storage.handle({
      type: 'storage',
      runId: 'r',
      requestId: 'q',
      op: 'stage',
      path: out,
      name: 'out.txt',
      contentType: 'text/plain',
    });
    expect(repo.beforeStage).toBeUndefined(); // the swap did run
    expect(staged.error).toBeUndefined();
    const record = (await repo.get(staged.artifactId!))!;
    expect(record.size).toBe('task output'.length);
    expect((await store.readAll(record.key)).toString()).toBe('task output');
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
    expect(
      Number(await redis.zscore(REDIS_KEYS.tenantUncommittedArtifacts('alice'), staged.artifactId!)),
    ).toBe(deadline.getTime());
  });
});
