/**
 * A tenant flooding createUpload (zero-byte uploads cost nothing against the stored-bytes quota) against a real
 * redis-server and the local S3 server: the artifact-count quota (TENANT_MAX_ARTIFACTS) bounds the records it
 * can write, uploads and staged task outputs alike, and refuses with QUOTA_EXCEEDED writing nothing; a sweep
 * pass drains a backlog larger than one batch, so another tenant's due work behind it does not wait for it.
 */
import { Redis } from 'ioredis';
import { REDIS_KEYS } from '#libs/contracts';
import type { Identity } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import {
  ArtifactRepository,
  ArtifactSweeper,
  ObjectStore,
  STORAGE_KEYS,
  StorageQuotaExceededError,
} from '#libs/storage';
import { startRedis, startS3, type RedisHandle, type S3Handle } from '#libs/testing';
import { JobArtifactsReader } from '../reads/job-artifacts-reader.js';
import { quietStorageLogger } from '../graphql/test/metadata-only-schema.js';
import { toApiError } from '../graphql/api-errors.js';
import { ArtifactService } from './artifact-service.js';

const MAX_ARTIFACTS = 40;

let s3: S3Handle;
let redisServer: RedisHandle;
let redis: Redis;
let store: ObjectStore;
let repo: ArtifactRepository;
let service: ArtifactService;
const quotaRefusals: string[] = [];

beforeAll(async () => {
  [s3, redisServer] = await Promise.all([startS3(), startRedis()]);
  redis = new Redis(redisServer.url);
  store = new ObjectStore(
    {
      endpoint: s3.endpoint,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      bucket: 'upload-flood',
      retry: { attempts: 2, baseDelayMs: 20 },
    },
    quietStorageLogger,
  );
  expect(await store.start()).toEqual({ ready: true });
  repo = new ArtifactRepository(redis, store, quietStorageLogger);
  service = new ArtifactService(
    repo,
    store,
    {
      maxBytes: 1024,
      allowedContentTypes: ['text/plain'],
      uploadUrlTtlSeconds: 60,
      downloadUrlTtlSeconds: 60,
      tenantMaxStoredBytes: 1, // zero-byte uploads always fit this one
      jobArtifactsListMax: 50,
      jobArtifactsPageMax: 100,
      tenantMaxArtifacts: MAX_ARTIFACTS,
    },
    {
      uploadCompleted: () => undefined,
      jobArtifactsCapped: () => undefined,
      uploadRejected: () => undefined,
      quotaRefused: (quota) => quotaRefusals.push(quota),
    },
    quietStorageLogger,
    new JobArtifactsReader(redis),
  );
});

afterAll(async () => {
  redis?.disconnect();
  await Promise.all([s3?.stop(), redisServer?.stop()]);
});

const identity = (tenant: string): Identity => ({
  tenant,
  keyId: `k-${tenant}`,
  scopes: ['artifacts:write', 'artifacts:read'],
  exp: 9e9,
});
const zeroByte = (i: number) => ({ name: `f${i}.txt`, contentType: 'text/plain', size: 0 });

/** Everything the flood could have written (the quota counters are among the keys), to show a refusal changed nothing. */
const footprint = async () => ({
  keys: await redis.dbsize(),
  uncommitted: await redis.zcard(REDIS_KEYS.tenantUncommittedArtifacts('mallory')),
  created: await redis.zcard(STORAGE_KEYS.tenantArtifactsByCreatedAt('mallory')),
  tenants: await redis.zrange(REDIS_KEYS.uncommittedArtifactTenants, '0', '-1', 'WITHSCORES'),
  removeAfter: await redis.zcard(STORAGE_KEYS.removeAfter),
  counters: Object.fromEntries(
    await Promise.all((await redis.keys('*:tenant:*')).map(async (k) => [k, await redis.get(k)] as const)),
  ),
});

describe('artifact-count quota (TENANT_MAX_ARTIFACTS)', () => {
  it('refuses the upload past the quota with QUOTA_EXCEEDED naming it, writing nothing; deleting frees a slot', async () => {
    const mallory = identity('mallory');
    const tickets = [];
    for (let i = 0; i < MAX_ARTIFACTS; i++) tickets.push(await service.createUpload(mallory, zeroByte(i)));
    // half committed: a committed artifact still counts (it is still a record)
    for (const t of tickets.slice(0, MAX_ARTIFACTS / 2)) {
      const pending = await repo.get(t.artifactId);
      await store.put(pending!.key, Buffer.alloc(0), { contentType: 'text/plain' });
      await service.completeUpload(mallory, t.artifactId);
    }

    const before = await footprint();
    const refused = await service.createUpload(mallory, zeroByte(999)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StorageQuotaExceededError);
    expect(refused).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      quota: 'artifacts',
      max: MAX_ARTIFACTS,
      used: MAX_ARTIFACTS,
      requested: 1,
    });
    // the API answer has the stored-bytes quota's shape, named for this quota
    const answer = toApiError(refused) as DomainError;
    expect(answer).toBeInstanceOf(DomainError);
    expect(answer.code).toBe('QUOTA_EXCEEDED');
    expect(answer.extensions).toEqual({
      limit: 'artifacts',
      max: MAX_ARTIFACTS,
      used: MAX_ARTIFACTS,
      requested: 1,
    });
    expect(quotaRefusals).toEqual(['artifacts']);
    expect(await footprint()).toEqual(before); // nothing written
    expect(await repo.artifactCount('mallory')).toBe(MAX_ARTIFACTS);

    // another tenant has its own count
    await service.createUpload(identity('victim'), zeroByte(0));
    expect(await repo.artifactCount('victim')).toBe(1);

    // deleting a committed artifact releases its slot
    expect(await service.deleteArtifact(mallory, tickets[0]!.artifactId)).toBe(true);
    expect(await repo.artifactCount('mallory')).toBe(MAX_ARTIFACTS - 1);
    await service.createUpload(mallory, zeroByte(1000));
    await expect(service.createUpload(mallory, zeroByte(1001))).rejects.toBeInstanceOf(
      StorageQuotaExceededError,
    );
  }, 60_000);

  it('counts task outputs from staging on (never refusing them) and releases what the sweeps remove', async () => {
    const tenant = 'stager';
    const output = (i: number) =>
      repo.stage({
        tenant,
        jobId: 'job-1',
        nodeId: 'train',
        attempt: 1,
        name: `out${i}.txt`,
        contentType: 'text/plain',
        source: Buffer.from('x'),
      });
    // outputs past the quota are kept (failing a running job would be worse) and counted
    for (let i = 0; i <= MAX_ARTIFACTS; i++) await output(i);
    await expect(service.createUpload(identity(tenant), zeroByte(0))).rejects.toMatchObject({
      quota: 'artifacts',
      used: MAX_ARTIFACTS + 1,
    });
    expect(await repo.artifactCount(tenant)).toBe(MAX_ARTIFACTS + 1);
    // the attempt never committed: the orphan sweep removes its outputs and releases them
    const sweeper = new ArtifactSweeper(
      redis,
      repo,
      { orphanGraceMs: 0, retentionMs: 0, batchSize: 1000 },
      quietStorageLogger,
    );
    await sweeper.sweep(new Date(Date.now() + 1000));
    expect(await repo.artifactCount(tenant)).toBe(0);
    expect(await repo.storedBytes(tenant)).toBe(0);
    await service.createUpload(identity(tenant), zeroByte(0));
  }, 60_000);
});

describe('sweep pass', () => {
  // as createUpload leaves them: a grant (already expired), so deleting one queues its staging object too
  const pendingUploads = async (tenant: string, n: number) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const input = {
        tenant,
        name: `p${i}.txt`,
        contentType: 'text/plain',
        size: 0,
        grantExpiresAt: new Date(),
      };
      ids.push((await repo.createPendingUpload(input)).id);
    }
    return ids;
  };

  it('drains a backlog larger than one batch, reaching the due work of a tenant queued behind it', async () => {
    await redis.flushall();
    const flood = await pendingUploads('flooder', 350);
    const victim = await pendingUploads('victim', 1);
    // no time bound in the way (the pass also removes the 351 staging objects; the bound has its own test below)
    const sweeper = new ArtifactSweeper(
      redis,
      repo,
      { orphanGraceMs: 0, retentionMs: 0, batchSize: 100, passMaxMs: 60_000 },
      quietStorageLogger,
    );
    const r = await sweeper.sweep(new Date(Date.now() + 1000));
    expect(r.orphans).toBe(flood.length + victim.length);
    expect(await repo.get(victim[0]!)).toBeNull();
    expect(await redis.zcard(REDIS_KEYS.tenantUncommittedArtifacts('flooder'))).toBe(0);
    expect(await redis.zcard(REDIS_KEYS.uncommittedArtifactTenants)).toBe(0);
    expect(await repo.artifactCount('flooder')).toBe(0);
    // each deleted upload queued its staging object for removal (its grant has expired): all claimed, too
    expect(await redis.zcard(STORAGE_KEYS.removeAfter)).toBe(0);
    expect(await redis.scard(STORAGE_KEYS.objectsToDelete)).toBe(0);
  }, 60_000);

  it('stays bounded: past its time bound (or when told to stop) a pass ends after the round it is in', async () => {
    await redis.flushall();
    await pendingUploads('flooder', 250);
    const bounded = (passMaxMs: number) =>
      new ArtifactSweeper(
        redis,
        repo,
        { orphanGraceMs: 0, retentionMs: 0, batchSize: 100, passMaxMs },
        quietStorageLogger,
      );
    expect((await bounded(0).sweep(new Date(Date.now() + 1000))).orphans).toBe(100);
    expect((await bounded(60_000).sweep(new Date(Date.now() + 1000), () => false)).orphans).toBe(100);
    expect((await bounded(60_000).sweep(new Date(Date.now() + 1000))).orphans).toBe(50);
  }, 60_000);
});
