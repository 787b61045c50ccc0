/**
 * The artifact sweeps take tenants in turns (docs/security.md "Sweeps under a backlog"), against a real
 * redis-server and the local S3 server: a tenant's due orphans and expired artifacts are reached within one round of
 * the tenants with due work, however large another tenant's backlog is, and its quota counters drop with them; a
 * round a pass leaves unfinished is finished by the next pass; entries an older release wrote to the global indexes
 * are still swept (the legacy lane), with nothing lost or leaked.
 */
import { REDIS_KEYS, type ArtifactRecord } from '#libs/contracts';
import { redisPerSuite, startS3, type S3Handle } from '#libs/testing';
import {
  ArtifactRepository,
  ArtifactSweeper,
  encodeArtifactRecord,
  ObjectStore,
  STORAGE_KEYS,
  type StorageLogger,
  type SweepOptions,
} from './index.js';

const logs: Array<{ obj: Record<string, unknown>; msg?: string }> = [];
const logger: StorageLogger = {
  debug: () => undefined,
  info: (obj, msg) => logs.push({ obj: obj as Record<string, unknown>, msg }),
  warn: (obj, msg) => logs.push({ obj: obj as Record<string, unknown>, msg }),
  error: (obj, msg) => logs.push({ obj: obj as Record<string, unknown>, msg }),
};

const BATCH = 3;
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const t0 = new Date('2026-03-01T00:00:00Z').getTime();

const redis = redisPerSuite();
let s3: S3Handle;
let store: ObjectStore;

beforeAll(async () => {
  s3 = await startS3();
  store = new ObjectStore(
    {
      endpoint: s3.endpoint,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      bucket: 'sweep-turns',
      retry: { attempts: 2, baseDelayMs: 20 },
    },
    logger,
  );
  expect(await store.start()).toEqual({ ready: true });
});

afterAll(async () => {
  await s3?.stop();
});

beforeEach(() => {
  logs.length = 0;
});

/** A repository whose clock reads `at`. */
const repoAt = (at: number) => new ArtifactRepository(redis.client, store, logger, () => new Date(at));
const sweeper = (options: Partial<SweepOptions> = {}) =>
  new ArtifactSweeper(
    redis.client,
    repoAt(Date.now()),
    { orphanGraceMs: HOUR, retentionMs: 0, batchSize: BATCH, passMaxMs: 60_000, ...options },
    logger,
  );
/** proceed() for a pass of exactly `n` rounds (a round takes one batch of each kind that has more). */
const rounds = (n: number) => {
  let left = n;
  return () => --left > 0;
};

/** Uploads reserved at `at` and never completed (their grant expired then), `size` bytes declared each. */
async function pendingUploads(tenant: string, n: number, at: number, size = 4): Promise<string[]> {
  const repo = repoAt(at);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const input = {
      tenant,
      name: `p${i}.txt`,
      contentType: 'text/plain',
      size,
      grantExpiresAt: new Date(at),
    };
    ids.push((await repo.createPendingUpload(input)).id);
  }
  return ids;
}

/** Uploads completed at `at` (two bytes each): committed records with their objects. */
async function committedUploads(tenant: string, n: number, at: number): Promise<ArtifactRecord[]> {
  const repo = repoAt(at);
  const records: ArtifactRecord[] = [];
  for (let i = 0; i < n; i++) {
    const pending = await repo.createPendingUpload({
      tenant,
      name: `c${i}.txt`,
      contentType: 'text/plain',
      size: 2,
    });
    await store.put(pending.key, Buffer.from('ok'), { contentType: 'text/plain' });
    records.push((await repo.commitUpload(pending.id, tenant, { size: 2 }))!);
  }
  return records;
}

const counters = async (tenant: string) => {
  const repo = repoAt(Date.now());
  return { artifacts: await repo.artifactCount(tenant), bytes: await repo.storedBytes(tenant) };
};

/** Every sweep index key with what it holds (tenant indexes, tenants indexes, legacy global ones). */
const sweepIndexes = async () => {
  const keys = [
    ...(await redis.client.keys(`${REDIS_KEYS.tenantUncommittedArtifacts('')}*`)),
    ...(await redis.client.keys(`${STORAGE_KEYS.tenantArtifactsByCreatedAt('')}*`)),
    STORAGE_KEYS.uncommittedArtifactTenants,
    STORAGE_KEYS.createdArtifactTenants,
    REDIS_KEYS.uncommittedArtifacts,
    STORAGE_KEYS.artifactsByCreatedAt,
  ];
  return Object.fromEntries(
    await Promise.all(keys.map(async (k) => [k, await redis.client.zcard(k)] as const)),
  );
};
const nonEmpty = (indexes: Record<string, number>) => Object.entries(indexes).filter(([, n]) => n > 0);

describe('artifact sweeps take tenants in turns', () => {
  it("reaches another tenant's due orphan within one round, whatever one tenant's backlog holds", async () => {
    const flood = await pendingUploads('flooder', 7 * BATCH, t0);
    const [victim] = await pendingUploads('victim', 1, t0 + 60_000); // the newest: oldest-first reaches it last
    expect(await counters('victim')).toEqual({ artifacts: 1, bytes: 4 });

    // as many rounds as tenants have due work: one batch each
    const sweep = sweeper();
    const first = await sweep.sweep(new Date(t0 + 2 * HOUR), rounds(2));
    expect(await repoAt(t0).get(victim!)).toBeNull();
    expect(await counters('victim')).toEqual({ artifacts: 0, bytes: 0 });
    // the flooder had one turn, a batch
    expect(first.orphans).toBe(BATCH + 1);
    expect(await counters('flooder')).toEqual({
      artifacts: flood.length - BATCH,
      bytes: 4 * (flood.length - BATCH),
    });
    expect(logs.find((l) => l.msg === 'artifact sweep removed data')?.obj).toMatchObject({
      orphans: BATCH + 1,
      tenants: 2,
      legacy: false,
    });

    // the rest drains in later rounds; the indexes are left empty, tenants listed nowhere
    expect((await sweep.sweep(new Date(t0 + 2 * HOUR))).orphans).toBe(flood.length - BATCH);
    expect(await counters('flooder')).toEqual({ artifacts: 0, bytes: 0 });
    expect(nonEmpty(await sweepIndexes())).toEqual([]);
  }, 60_000);

  it('finishes in the next pass a round that a pass left unfinished (a pass of one batch)', async () => {
    await pendingUploads('flooder', 5 * BATCH, t0);
    const [victim] = await pendingUploads('victim', 1, t0 + 60_000);
    const sweep = sweeper();
    expect((await sweep.sweep(new Date(t0 + 2 * HOUR), () => false)).orphans).toBe(BATCH); // the flooder's turn
    expect(await counters('victim')).toEqual({ artifacts: 1, bytes: 4 });
    expect((await sweep.sweep(new Date(t0 + 2 * HOUR), () => false)).orphans).toBe(1); // the victim's
    expect(await repoAt(t0).get(victim!)).toBeNull();
    expect(await counters('victim')).toEqual({ artifacts: 0, bytes: 0 });
    expect(await counters('flooder')).toMatchObject({ artifacts: 4 * BATCH });
  }, 60_000);

  it("reaches another tenant's expired artifact within one round, its object removed and its quota freed", async () => {
    const flood = await committedUploads('flooder', 4 * BATCH, t0);
    const [victim] = await committedUploads('victim', 1, t0 + 60_000);
    expect(await counters('victim')).toEqual({ artifacts: 1, bytes: 2 });

    const sweep = sweeper({ retentionMs: DAY });
    expect((await sweep.sweep(new Date(t0 + 2 * DAY), rounds(2))).expired).toBe(BATCH + 1);
    expect(await repoAt(t0).get(victim!.id)).toBeNull();
    expect(await store.stat(victim!.key)).toBeNull();
    expect(await counters('victim')).toEqual({ artifacts: 0, bytes: 0 });
    expect(await counters('flooder')).toEqual({
      artifacts: flood.length - BATCH,
      bytes: 2 * (flood.length - BATCH),
    });

    expect((await sweep.sweep(new Date(t0 + 2 * DAY))).expired).toBe(flood.length - BATCH);
    for (const r of flood) expect(await store.stat(r.key)).toBeNull();
    expect(nonEmpty(await sweepIndexes())).toEqual([]);
  }, 60_000);

  it("does not stall a tenant's retention behind a batch of its uncommitted artifacts", async () => {
    // uploads still within a grace longer than retention, created before a committed artifact past retention
    const uploading = await pendingUploads('slow', BATCH, t0);
    const [expired] = await committedUploads('slow', 1, t0 + 60_000);
    const sweep = sweeper({ retentionMs: DAY, orphanGraceMs: 3 * DAY });
    const at = t0 + 2 * DAY;

    expect(await sweep.sweep(new Date(at))).toMatchObject({ orphans: 0, expired: 1 });
    expect(await repoAt(at).get(expired!.id)).toBeNull();
    expect(await store.stat(expired!.key)).toBeNull();
    // the uploads stay, looked at again by retention one grace later (the orphan sweep's by then)
    const createdIndex = STORAGE_KEYS.tenantArtifactsByCreatedAt('slow');
    for (const id of uploading) {
      expect(await repoAt(at).get(id)).toMatchObject({ state: 'pending' });
      expect(Number(await redis.client.zscore(createdIndex, id))).toBe(at - DAY + 3 * DAY);
    }
    expect(await sweep.sweep(new Date(t0 + 3 * DAY + HOUR))).toMatchObject({ orphans: BATCH, expired: 0 });
    expect(await counters('slow')).toEqual({ artifacts: 0, bytes: 0 });
    expect(nonEmpty(await sweepIndexes())).toEqual([]);
  }, 60_000);

  it('keeps each tenant listed at its earliest entry, and unlisted once it has none', async () => {
    const [first, second] = await pendingUploads('acme', 2, t0);
    const later = (await pendingUploads('acme', 1, t0 + 5000))[0]!;
    const tenantsScore = () => redis.client.zscore(STORAGE_KEYS.uncommittedArtifactTenants, 'acme');
    expect(Number(await tenantsScore())).toBe(t0);
    const repo = repoAt(t0 + 6000);
    expect(await repo.delete(first!, ['pending'])).toBe(true);
    expect(await repo.delete(second!, ['pending'])).toBe(true);
    expect(Number(await tenantsScore())).toBe(t0 + 5000);
    // a commit takes it out of the uncommitted index; its created entry stays for retention
    const pending = (await repo.get(later))!;
    await store.put(pending.key, Buffer.from('abcd'), { contentType: 'text/plain' });
    expect(await repo.commitUpload(later, 'acme', { size: 4 })).toMatchObject({ state: 'committed' });
    expect(await tenantsScore()).toBeNull();
    expect(Number(await redis.client.zscore(STORAGE_KEYS.createdArtifactTenants, 'acme'))).toBe(t0 + 5000);
    expect(await repo.deleteVisible(later, 'acme')).toBe(true);
    expect(nonEmpty(await sweepIndexes())).toEqual([]);
  }, 60_000);
});

describe('during a rolling upgrade: an older replica commits or deletes without touching the tenant indexes', () => {
  it('drops the stale entries it leaves, deleting nothing that should stay, and unlists a tenant left with none', async () => {
    const [committed, gone] = await pendingUploads('mixed', 2, t0);
    // an older commit: the record is committed, its entry left in the tenant's uncommitted index
    await redis.client.hset(REDIS_KEYS.artifact(committed!), 'state', 'committed');
    // an older delete: the record is gone, its entries left in the tenant's indexes
    await redis.client
      .multi()
      .del(REDIS_KEYS.artifact(gone!))
      .decr(STORAGE_KEYS.tenantArtifacts('mixed'))
      .decrby(STORAGE_KEYS.tenantStoredBytes('mixed'), 4)
      .exec();
    // and a tenant listed with nothing in its index (a hand edit)
    await redis.client.zadd(STORAGE_KEYS.uncommittedArtifactTenants, t0, 'ghost');

    expect((await sweeper({ retentionMs: DAY }).sweep(new Date(t0 + 2 * HOUR))).orphans).toBe(0);
    expect(await repoAt(t0).get(committed!)).toMatchObject({ state: 'committed' });
    expect(await redis.client.zrange(STORAGE_KEYS.uncommittedArtifactTenants, '0', '-1')).toEqual([]);
    expect(await redis.client.zcard(STORAGE_KEYS.tenantUncommittedArtifacts('mixed'))).toBe(0);
    // retention, once due: the gone record's entry is dropped, the committed one expires as any other
    expect((await sweeper({ retentionMs: DAY }).sweep(new Date(t0 + 2 * DAY))).expired).toBe(1);
    expect(await repoAt(t0).get(committed!)).toBeNull();
    expect(await counters('mixed')).toEqual({ artifacts: 0, bytes: 0 });
    expect(nonEmpty(await sweepIndexes())).toEqual([]);
  }, 60_000);
});

describe('upgrade: entries an older release wrote to the global indexes', () => {
  /** A record as the release before per-tenant indexes wrote it: global indexes, counted. */
  async function legacyRecord(record: ArtifactRecord, object: Buffer | null): Promise<ArtifactRecord> {
    if (object) await store.put(record.key, object, { contentType: record.contentType });
    const created = Date.parse(record.createdAt);
    const m = redis.client
      .multi()
      .hset(REDIS_KEYS.artifact(record.id), encodeArtifactRecord(record))
      .zadd(STORAGE_KEYS.artifactsByCreatedAt, created, record.id)
      .incr(STORAGE_KEYS.tenantArtifacts(record.tenant))
      .incrby(STORAGE_KEYS.tenantStoredBytes(record.tenant), record.size);
    if (record.state !== 'committed') m.zadd(REDIS_KEYS.uncommittedArtifacts, created, record.id);
    await m.exec();
    return record;
  }
  const base = (
    id: string,
    state: ArtifactRecord['state'],
    extra: Partial<ArtifactRecord> = {},
  ): ArtifactRecord => ({
    id,
    tenant: 'elder',
    state,
    key: `elder/incoming/${id}/f.txt`,
    name: 'f.txt',
    contentType: 'text/plain',
    size: 2,
    sha256: '',
    createdAt: new Date(t0).toISOString(),
    ...extra,
  });

  it('sweeps them as one more lane of the turns until they are gone; an entry not due yet moves to its tenant', async () => {
    const orphan = await legacyRecord(base('old-orphan', 'pending'), null);
    const expired = await legacyRecord(base('old-expired', 'committed'), Buffer.from('ok'));
    // a job's output while its job runs: retention counts from its finish, so it is rescheduled, not deleted
    await redis.client.hset(REDIS_KEYS.job('job-running'), 'status', 'RUNNING');
    const running = await legacyRecord(
      base('old-running', 'committed', {
        jobId: 'job-running',
        nodeId: 'n',
        attempt: 1,
        key: 'elder/job-running/n/1/out.bin',
      }),
      Buffer.from('ok'),
    );
    // and a tenant of the new release with a backlog: the legacy lane still gets its turn in each round
    // (its uploads never completed are newer than its committed ones: a retention batch takes committed ones)
    await committedUploads('flooder', 4 * BATCH, t0);
    await pendingUploads('flooder', 4 * BATCH, t0 + HOUR);

    const now = t0 + 2 * DAY;
    const result = await sweeper({ retentionMs: DAY }).sweep(new Date(now), rounds(2));
    expect(await repoAt(t0).get(orphan.id)).toBeNull();
    expect(await repoAt(t0).get(expired.id)).toBeNull();
    expect(await store.stat(expired.key)).toBeNull();
    expect(result).toMatchObject({ orphans: BATCH + 1, expired: BATCH + 1 });
    expect(logs.find((l) => l.msg === 'artifact sweep removed data')?.obj).toMatchObject({
      tenants: 1,
      legacy: true,
    });
    // the running job's output is kept, now in its tenant's index, due a retention after now
    expect(await repoAt(t0).get(running.id)).toMatchObject({ state: 'committed' });
    expect(await store.stat(running.key)).not.toBeNull();
    expect(await counters('elder')).toEqual({ artifacts: 1, bytes: 2 });
    expect(await redis.client.zcard(REDIS_KEYS.uncommittedArtifacts)).toBe(0);
    expect(await redis.client.zcard(STORAGE_KEYS.artifactsByCreatedAt)).toBe(0);
    expect(
      Number(await redis.client.zscore(STORAGE_KEYS.tenantArtifactsByCreatedAt('elder'), running.id)),
    ).toBe(now);
    expect(Number(await redis.client.zscore(STORAGE_KEYS.createdArtifactTenants, 'elder'))).toBe(now);

    // once the job has finished a retention ago, it goes too
    await redis.client.hset(
      REDIS_KEYS.job('job-running'),
      'status',
      'SUCCEEDED',
      'finishedAt',
      new Date(now).toISOString(),
    );
    expect(
      (await sweeper({ retentionMs: DAY }).sweep(new Date(now + 2 * DAY))).expired,
    ).toBeGreaterThanOrEqual(1);
    expect(await repoAt(t0).get(running.id)).toBeNull();
    expect(await store.stat(running.key)).toBeNull();
    expect(await counters('elder')).toEqual({ artifacts: 0, bytes: 0 });
    expect(nonEmpty(await sweepIndexes())).toEqual([]);
  }, 60_000);
});
