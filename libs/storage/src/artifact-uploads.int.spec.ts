/**
 * Client uploads against a real redis-server and the local S3 server: the stored-bytes quota (reserved and
 * released atomically), the commit's copy to a key no grant covers, verified reads, and the removal of
 * staging objects once their grant has expired.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_KEYS } from '#libs/contracts';
import { startRedis, startS3, type RedisHandle, type S3Handle } from '#libs/testing';
import {
  ArtifactRepository,
  ArtifactSweeper,
  ChecksumMismatchError,
  COMMIT_COPY_GRACE_MS,
  commitUploadCopy,
  ObjectStore,
  SizeMismatchError,
  STORAGE_KEYS,
  StorageQuotaExceededError,
  type StorageLogger,
} from './index.js';

const quiet: StorageLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let s3: S3Handle;
let redisServer: RedisHandle;
let redis: Redis;
let store: ObjectStore;
let repo: ArtifactRepository;

beforeAll(async () => {
  [s3, redisServer] = await Promise.all([startS3(), startRedis()]);
  redis = new Redis(redisServer.url);
  store = new ObjectStore(
    {
      endpoint: s3.endpoint,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      bucket: 'uploads-int',
      retry: { attempts: 2, baseDelayMs: 20 },
    },
    quiet,
  );
  expect(await store.start()).toEqual({ ready: true });
  repo = new ArtifactRepository(redis, store, quiet);
});

afterAll(async () => {
  redis?.disconnect();
  await Promise.all([s3?.stop(), redisServer?.stop()]);
});

const readAll = async (s: NodeJS.ReadableStream) => {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
};

describe('stored-bytes quota', () => {
  it('reserves declared sizes atomically, refuses what does not fit without writing anything, releases on delete', async () => {
    const tenant = 'quota-a';
    const a = await repo.createPendingUpload({
      tenant,
      name: 'a.csv',
      contentType: 'text/csv',
      size: 600,
      maxStoredBytes: 1000,
    });
    expect(await repo.storedBytes(tenant)).toBe(600);
    const before = await redis.dbsize();
    const refused = await repo
      .createPendingUpload({
        tenant,
        name: 'b.csv',
        contentType: 'text/csv',
        size: 401,
        maxStoredBytes: 1000,
      })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StorageQuotaExceededError);
    expect(refused).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      quota: 'storedBytes',
      max: 1000,
      used: 600,
      requested: 401,
    });
    expect(await redis.dbsize()).toBe(before); // nothing persisted
    expect(await repo.storedBytes(tenant)).toBe(600);
    // another tenant has its own count
    await repo.createPendingUpload({
      tenant: 'quota-b',
      name: 'b.csv',
      contentType: 'text/csv',
      size: 900,
      maxStoredBytes: 1000,
    });
    // exactly up to the limit fits
    const c = await repo.createPendingUpload({
      tenant,
      name: 'c.csv',
      contentType: 'text/csv',
      size: 400,
      maxStoredBytes: 1000,
    });
    expect(await repo.storedBytes(tenant)).toBe(1000);
    expect(await repo.delete(a.id, ['pending'], tenant)).toBe(true);
    expect(await repo.delete(c.id, ['pending'], tenant)).toBe(true);
    expect(await repo.storedBytes(tenant)).toBe(0);
  });

  it('lets concurrent reservations take exactly what fits', async () => {
    const tenant = 'quota-race';
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        repo.createPendingUpload({
          tenant,
          name: `f${i}.csv`,
          contentType: 'text/csv',
          size: 200,
          maxStoredBytes: 1000,
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const refused = results.filter((r) => r.status === 'rejected');
    expect(
      refused.every((r) => (r as PromiseRejectedResult).reason instanceof StorageQuotaExceededError),
    ).toBe(true);
    expect(await repo.storedBytes(tenant)).toBe(1000);
  });

  it('releases an upload that was never completed when the orphan sweep removes it, and its staging object after the grant', async () => {
    const tenant = 'quota-orphan';
    const grantExpiresAt = new Date(Date.now() + 60_000);
    const pending = await repo.createPendingUpload({
      tenant,
      name: 'never.csv',
      contentType: 'text/csv',
      size: 700,
      maxStoredBytes: 1000,
      grantExpiresAt,
    });
    await store.put(pending.key, Buffer.alloc(700, 1), { contentType: 'text/csv' });
    expect(await repo.storedBytes(tenant)).toBe(700);
    const sweeper = new ArtifactSweeper(
      redis,
      repo,
      { orphanGraceMs: 0, retentionMs: 0, batchSize: 100 },
      quiet,
    );
    await sweeper.sweep(new Date(Date.now() + 1000));
    expect(await repo.get(pending.id)).toBeNull();
    expect(await repo.storedBytes(tenant)).toBe(0);
    expect(await store.stat(pending.key)).toBeNull();
    // the grant could still write the staging key: it is queued for removal again at the grant's expiry
    expect(Number(await redis.zscore(STORAGE_KEYS.removeAfter, pending.key))).toBe(grantExpiresAt.getTime());
  });

  it('counts task outputs from staging and releases them when they are swept', async () => {
    const tenant = 'quota-out';
    const rec = await repo.stage({
      tenant,
      jobId: 'job-q',
      nodeId: 'n',
      attempt: 1,
      name: 'out.bin',
      contentType: 'application/octet-stream',
      source: Buffer.alloc(300, 7),
    });
    expect(await repo.storedBytes(tenant)).toBe(300);
    const refused = await repo
      .createPendingUpload({
        tenant,
        name: 'x.csv',
        contentType: 'text/csv',
        size: 800,
        maxStoredBytes: 1000,
      })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ used: 300, requested: 800 });
    await new ArtifactSweeper(redis, repo, { orphanGraceMs: 0, retentionMs: 0, batchSize: 100 }, quiet).sweep(
      new Date(Date.now() + 1000),
    );
    expect(await repo.get(rec.id)).toBeNull();
    expect(await repo.storedBytes(tenant)).toBe(0);
  });
});

describe('commit by copy', () => {
  const tenant = 'copy';
  const bytes = Buffer.from('a,b\n1,2\n');

  async function staged(body: Buffer, opts: { size?: number; sha256?: string } = {}) {
    const pending = await repo.createPendingUpload({
      tenant,
      name: 'in.csv',
      contentType: 'text/csv',
      size: opts.size ?? body.length,
      sha256: opts.sha256,
      grantExpiresAt: new Date(Date.now() + 60_000),
    });
    await store.put(pending.key, body, { contentType: 'text/csv' });
    return pending;
  }

  it('copies to a key no grant covers, removes the staging object, and a later write to the staging key changes nothing', async () => {
    const pending = await staged(bytes, { sha256: sha(bytes) });
    expect(pending.key).toBe(`copy/incoming/${pending.id}/in.csv`);
    const committed = await repo.commitUpload(pending.id, tenant, { size: bytes.length, sha256: sha(bytes) });
    expect(committed).toMatchObject({ state: 'committed', size: bytes.length, sha256: sha(bytes) });
    expect(committed!.key).toMatch(new RegExp(`^copy/uploads/${pending.id}/[0-9a-f-]{36}/in\\.csv$`));
    expect(await store.stat(pending.key)).toBeNull();
    const info = await store.stat(committed!.key);
    expect(info).toMatchObject({ size: bytes.length, contentType: 'text/csv' });
    // the copy's own metadata makes it a download even without signed response headers
    const plain = await fetch((await store.presignedGet(committed!.key, 60)).url);
    expect(plain.headers.get('content-disposition')).toBe('attachment; filename="in.csv"');
    expect(Buffer.from(await plain.arrayBuffer())).toEqual(bytes);
    // the grant's key written again (what a second POST with the same form does) ...
    await store.put(pending.key, Buffer.from('<script>x</script>'), { contentType: 'text/html' });
    // ... leaves the committed object and reads alone
    expect(await readAll(await repo.read(pending.id, tenant))).toEqual(bytes);
    // and the staging object is removed once the grant has expired
    const score = await redis.zscore(STORAGE_KEYS.removeAfter, pending.key);
    expect(Number(score)).toBeGreaterThan(Date.now());
    expect(await redis.zscore(STORAGE_KEYS.removeAfter, committed!.key)).toBeNull();
    await new ArtifactSweeper(
      redis,
      repo,
      { orphanGraceMs: 3600_000, retentionMs: 0, batchSize: 100 },
      quiet,
    ).sweep(new Date(Number(score) + 1));
    expect(await store.stat(pending.key)).toBeNull();
    expect(await store.stat(committed!.key)).not.toBeNull();
    expect(await redis.zscore(STORAGE_KEYS.removeAfter, pending.key)).toBeNull();
  });

  it('refuses a copy that is not the declared size or sha256, removing the copy and keeping the pending record', async () => {
    const longer = await staged(Buffer.from('more bytes than declared'), { size: 5 });
    await expect(repo.commitUpload(longer.id, tenant, { size: 5 })).rejects.toBeInstanceOf(SizeMismatchError);
    expect(await repo.get(longer.id)).toMatchObject({ state: 'pending' });
    const other = await staged(bytes, { sha256: sha(Buffer.from('other')) });
    await expect(
      repo.commitUpload(other.id, tenant, { size: bytes.length, sha256: sha(Buffer.from('other')) }),
    ).rejects.toBeInstanceOf(ChecksumMismatchError);
    const copies = await redis.zrange(STORAGE_KEYS.removeAfter, '0', '-1');
    expect(
      copies.filter((k) => k.includes(`/uploads/${longer.id}/`) || k.includes(`/uploads/${other.id}/`)),
    ).toEqual([]);
    const objects = await redis.smembers(STORAGE_KEYS.objectsToDelete);
    expect(objects.filter((k) => k.includes(`/uploads/${other.id}/`))).toEqual([]); // removed, not just queued
  });

  it('lets exactly one of two racing completes commit; the loser removes its own copy', async () => {
    const pending = await staged(bytes);
    const [a, b] = await Promise.all([
      repo.commitUpload(pending.id, tenant, { size: bytes.length }),
      repo.commitUpload(pending.id, tenant, { size: bytes.length }),
    ]);
    const winners = [a, b].filter(Boolean);
    expect(winners).toHaveLength(1);
    expect(await repo.get(pending.id)).toMatchObject({ state: 'committed', key: winners[0]!.key });
    expect(await readAll(await repo.read(pending.id, tenant))).toEqual(bytes);
  });

  it('a complete that copies after a racing one committed and removed the staging object loses, not fails', async () => {
    const pending = await staged(bytes);
    let winnerDone!: () => void;
    const winner = new Promise<void>((resolve) => (winnerDone = resolve));
    // the loser read the upload as pending, then its copy starts only once the winner is through
    const lateStore = new Proxy(store, {
      get: (target, prop, receiver) =>
        prop === 'copy'
          ? async (...args: Parameters<ObjectStore['copy']>) => {
              await winner;
              return target.copy(...args);
            }
          : Reflect.get(target, prop, receiver),
    });
    const late = commitUploadCopy(
      redis,
      lateStore,
      repo,
      quiet,
      pending.id,
      tenant,
      { size: bytes.length },
      new Date(),
    );
    const first = await repo.commitUpload(pending.id, tenant, { size: bytes.length });
    winnerDone();
    await expect(late).resolves.toBeNull();
    expect(await repo.get(pending.id)).toMatchObject({ state: 'committed', key: first!.key });
    expect(await readAll(await repo.read(pending.id, tenant))).toEqual(bytes);
  });

  it('removes a copy that was never committed (a crash between copy and commit) after its grace', async () => {
    const key = `copy/uploads/crashed/${'c'.repeat(8)}/x.csv`;
    await store.put(key, bytes, { contentType: 'text/csv' });
    await redis.zadd(STORAGE_KEYS.removeAfter, Date.now() + COMMIT_COPY_GRACE_MS, key);
    const sweeper = new ArtifactSweeper(
      redis,
      repo,
      { orphanGraceMs: 3600_000, retentionMs: 0, batchSize: 100 },
      quiet,
    );
    await sweeper.sweep(new Date());
    expect(await store.stat(key)).not.toBeNull();
    await sweeper.sweep(new Date(Date.now() + COMMIT_COPY_GRACE_MS + 1000));
    expect(await store.stat(key)).toBeNull();
  });
});

describe('verified reads', () => {
  it('fail when the stored bytes are not the recorded size and sha256', async () => {
    const bytes = Buffer.from('trusted');
    const pending = await repo.createPendingUpload({
      tenant: 'verify',
      name: 'v.csv',
      contentType: 'text/csv',
      size: bytes.length,
    });
    await store.put(pending.key, bytes, { contentType: 'text/csv' });
    const committed = (await repo.commitUpload(pending.id, 'verify', { size: bytes.length }))!;
    expect(await readAll(await repo.read(committed.id, 'verify'))).toEqual(bytes);
    // bytes changed behind the record's back (same size): the read fails instead of passing them on
    await store.put(committed.key, Buffer.from('TRUSTED'), { contentType: 'text/csv' });
    await expect(readAll(await repo.read(committed.id, 'verify'))).rejects.toBeInstanceOf(
      ChecksumMismatchError,
    );
    await store.put(committed.key, Buffer.from('trusted but longer'), { contentType: 'text/csv' });
    await expect(readAll(await repo.read(committed.id, 'verify'))).rejects.toBeInstanceOf(SizeMismatchError);
    expect(await redis.hget(REDIS_KEYS.artifact(committed.id), 'sha256')).toBe(sha(bytes));
  });
});
