/**
 * The artifacts subgraph as a real process (built JS) against a real redis-server and the local S3 server:
 * uploads end to end, rejections, tenants, Job.artifacts through _entities, the orphan sweep, and an
 * S3 outage with recovery.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_KEYS, type Scope } from '#libs/contracts';
import { signIdentity } from '#libs/auth';
import {
  freePort,
  startApp,
  startRedis,
  startS3,
  waitFor,
  type AppHandle,
  type RedisHandle,
  type S3Handle,
} from '#libs/testing';
import { ArtifactRepository, ObjectStore, type StorageLogger } from '#libs/storage';
import { sendUpload } from './send-upload.js';

const SECRET = 'e2e-identity-secret-0123456789-abcdefgh';
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
let app: AppHandle;
let store: ObjectStore;
let worker: ArtifactRepository;

interface GqlResult<T = Record<string, any>> {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, any> }>;
}

function identityHeader(
  tenant: string,
  scopes: Scope[] = ['artifacts:read', 'artifacts:write'],
): Record<string, string> {
  return { 'x-switchyard-identity': signIdentity({ tenant, keyId: `key-${tenant}`, scopes }, SECRET) };
}

async function gql<T = Record<string, any>>(
  query: string,
  variables: object = {},
  headers: Record<string, string> = identityHeader('acme'),
): Promise<GqlResult<T>> {
  const res = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...((await res.json()) as object) };
}

const CREATE = `mutation($input: CreateUploadInput!) { createUpload(input: $input) { artifactId uploadUrl method headers fields expiresAt } }`;
const COMPLETE = `mutation($id: ID!) { completeUpload(artifactId: $id) { id name contentType size sha256 createdAt downloadUrl jobId } }`;
const ARTIFACT = `query($id: ID!) { artifact(id: $id) { id name size sha256 downloadUrl } }`;

async function upload(
  bytes: Buffer,
  opts: { name?: string; contentType?: string; size?: number; sha256?: string; tenant?: string } = {},
) {
  const headers = identityHeader(opts.tenant ?? 'acme');
  const created = await gql(
    CREATE,
    {
      input: {
        name: opts.name ?? 'data.csv',
        contentType: opts.contentType ?? 'text/csv',
        size: opts.size ?? bytes.length,
        sha256: opts.sha256,
      },
    },
    headers,
  );
  expect(created.errors).toBeUndefined();
  const ticket = created.data!.createUpload;
  const sent = await sendUpload(ticket, bytes);
  expect(sent.status).toBe(204);
  return { ticket, complete: () => gql(COMPLETE, { id: ticket.artifactId }, headers) };
}

/** Where the upload grant puts the bytes until completeUpload copies them. */
const keyOfUpload = (tenant: string, id: string, name: string) => `${tenant}/incoming/${id}/${name}`;

beforeAll(async () => {
  [s3, redisServer] = await Promise.all([startS3({ bucket: 'e2e-artifacts' }), startRedis()]);
  redis = new Redis(redisServer.url);
  const port = await freePort();
  app = await startApp(
    'dist/apps/artifacts-subgraph/src/main.js',
    {
      ...s3.env,
      S3_RETRY_ATTEMPTS: '2',
      S3_REQUEST_TIMEOUT_MS: '2000',
      REDIS_URL: redisServer.url,
      SWITCHYARD_IDENTITY_SECRET: SECRET,
      ARTIFACTS_SUBGRAPH_PORT: String(port),
      ARTIFACT_MAX_UPLOAD_BYTES: '4096',
      ARTIFACT_ALLOWED_CONTENT_TYPES: 'text/csv,image/png,application/json',
      ARTIFACT_ORPHAN_GRACE_SECONDS: '2',
      ARTIFACT_SWEEP_INTERVAL_SECONDS: '1',
    },
    port,
  );
  await app.waitReady();
  store = new ObjectStore(s3, quiet);
  worker = new ArtifactRepository(redis, store, quiet);
});

afterAll(async () => {
  if (app?.process.exitCode === null) await app.stop();
  redis?.disconnect();
  await Promise.all([s3?.stop(), redisServer?.stop()]);
});

describe('identity', () => {
  it('rejects a request without a signed identity', async () => {
    const r = await gql(ARTIFACT, { id: 'x' }, {});
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(r.data ?? null).toBeNull();
  });
  it('rejects a forged identity', async () => {
    const forged = signIdentity(
      { tenant: 'acme', keyId: 'k', scopes: ['admin'] },
      'not-the-secret-not-the-secret-xxxx',
    );
    const r = await gql(ARTIFACT, { id: 'x' }, { 'x-switchyard-identity': forged });
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
  it('needs artifacts:write to upload', async () => {
    const r = await gql(
      CREATE,
      { input: { name: 'a.csv', contentType: 'text/csv', size: 1 } },
      identityHeader('acme', ['artifacts:read']),
    );
    expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('uploads', () => {
  it('createUpload → POST → completeUpload → downloadUrl returns the same bytes and sha256', async () => {
    const bytes = Buffer.from('x,y\n1,2\n3,4\n');
    const { ticket, complete } = await upload(bytes, { name: '../in put.csv', sha256: sha(bytes) });
    expect(ticket.method).toBe('POST');
    expect(ticket.headers).toEqual({});
    expect(ticket.fields).toMatchObject({
      key: keyOfUpload('acme', ticket.artifactId, '_in_put.csv'),
      'Content-Type': 'text/csv',
    });
    expect(new Date(ticket.expiresAt).getTime()).toBeLessThanOrEqual(Date.now() + 300_000);
    expect(new Date(ticket.expiresAt).getTime()).toBeGreaterThan(Date.now());
    expect(ticket.uploadUrl.startsWith(s3.endpoint)).toBe(true);
    expect(await gql(ARTIFACT, { id: ticket.artifactId })).toMatchObject({ data: { artifact: null } }); // pending: invisible

    const done = await complete();
    expect(done.errors).toBeUndefined();
    const artifact = done.data!.completeUpload;
    expect(artifact).toMatchObject({
      id: ticket.artifactId,
      name: '_in_put.csv',
      contentType: 'text/csv',
      size: bytes.length,
      sha256: sha(bytes),
      jobId: null,
    });
    const got = await fetch(artifact.downloadUrl);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-disposition')).toBe('attachment; filename="_in_put.csv"');
    expect(got.headers.get('content-type')).toBe('text/csv');
    const body = Buffer.from(await got.arrayBuffer());
    expect(body.equals(bytes)).toBe(true);
    expect(sha(body)).toBe(artifact.sha256);
    expect((await gql(ARTIFACT, { id: artifact.id })).data!.artifact).toMatchObject({
      id: artifact.id,
      size: bytes.length,
    });
    // completing twice answers the same artifact
    expect((await complete()).data!.completeUpload.id).toBe(artifact.id);
  });

  it('computes the sha256 from the stored bytes when none was declared', async () => {
    const bytes = Buffer.from('{"a":1}');
    const { complete } = await upload(bytes, { name: 'a.json', contentType: 'application/json' });
    expect((await complete()).data!.completeUpload.sha256).toBe(sha(bytes));
  });

  it('refuses to complete before the bytes arrive, and completes after', async () => {
    const bytes = Buffer.from('late,bytes\n');
    const created = await gql(CREATE, {
      input: { name: 'late.csv', contentType: 'text/csv', size: bytes.length },
    });
    const ticket = created.data!.createUpload;
    const early = await gql(COMPLETE, { id: ticket.artifactId });
    expect(early.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'NOT_UPLOADED' });
    expect((await sendUpload(ticket, bytes)).status).toBe(204);
    expect((await gql(COMPLETE, { id: ticket.artifactId })).data!.completeUpload.sha256).toBe(sha(bytes));
  });

  it('rejects a sha256 mismatch and removes the object', async () => {
    const bytes = Buffer.from('real,bytes\n');
    const { ticket, complete } = await upload(bytes, { name: 'bad.csv', sha256: sha(Buffer.from('other')) });
    const key = keyOfUpload('acme', ticket.artifactId, 'bad.csv');
    expect(await store.stat(key)).not.toBeNull();
    const r = await complete();
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'SHA256_MISMATCH' });
    expect(await store.stat(key)).toBeNull();
    expect((await complete()).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('rejects a size mismatch and removes the object', async () => {
    const bytes = Buffer.from('twelve bytes');
    const { ticket, complete } = await upload(bytes, { name: 'short.csv', size: 5 });
    const r = await complete();
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'SIZE_MISMATCH' });
    expect(await store.stat(keyOfUpload('acme', ticket.artifactId, 'short.csv'))).toBeNull();
  });

  it('rejects an upload declared over the limit or of a disallowed type', async () => {
    const big = await gql(CREATE, { input: { name: 'big.csv', contentType: 'text/csv', size: 4097 } });
    expect(big.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'TOO_LARGE' });
    const exe = await gql(CREATE, {
      input: { name: 'x.exe', contentType: 'application/x-msdownload', size: 10 },
    });
    expect(exe.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      reason: 'CONTENT_TYPE_NOT_ALLOWED',
    });
  });

  it('rejects bytes over the limit even when the declaration lied', async () => {
    const bytes = Buffer.alloc(5000, 1);
    const { ticket, complete } = await upload(bytes, { name: 'liar.csv', size: 100 });
    const r = await complete();
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(['TOO_LARGE', 'SIZE_MISMATCH']).toContain(r.errors?.[0]?.extensions?.reason);
    expect(await store.stat(keyOfUpload('acme', ticket.artifactId, 'liar.csv'))).toBeNull();
  });

  it("hides other tenants' artifacts: NOT_FOUND, never theirs", async () => {
    const bytes = Buffer.from('secret,data\n');
    const { ticket, complete } = await upload(bytes, { name: 'mine.csv' });
    // another tenant cannot complete acme's upload
    const foreignComplete = await gql(COMPLETE, { id: ticket.artifactId }, identityHeader('globex'));
    expect(foreignComplete.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const id = (await complete()).data!.completeUpload.id;
    expect((await gql(ARTIFACT, { id }, identityHeader('globex'))).data).toEqual({ artifact: null });
    const del = await gql(`mutation($id: ID!) { deleteArtifact(id: $id) }`, { id }, identityHeader('globex'));
    expect(del.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await gql(ARTIFACT, { id })).data!.artifact.id).toBe(id);
  });

  it('deletes an artifact: record and object', async () => {
    const { ticket, complete } = await upload(Buffer.from('bye\n'), { name: 'bye.csv' });
    const id = (await complete()).data!.completeUpload.id;
    const committedKey = (await redis.hget(REDIS_KEYS.artifact(id), 'key'))!;
    expect(committedKey.startsWith(`acme/uploads/${id}/`)).toBe(true);
    expect(await store.stat(committedKey)).not.toBeNull();
    expect((await gql(`mutation($id: ID!) { deleteArtifact(id: $id) }`, { id })).data).toEqual({
      deleteArtifact: true,
    });
    expect((await gql(ARTIFACT, { id })).data).toEqual({ artifact: null });
    expect(await store.stat(committedKey)).toBeNull();
    expect(await store.stat(keyOfUpload('acme', ticket.artifactId, 'bye.csv'))).toBeNull();
  });
});

describe('Job.artifacts and worker-side staging', () => {
  const ENTITIES = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Job { id artifacts { id name nodeId size sha256 downloadUrl } } } }`;

  it("lists only committed artifacts of the caller's tenant; an uncommitted one stays invisible and is swept", async () => {
    const jobId = 'job-e2e-1';
    const committed = await worker.stage({
      tenant: 'acme',
      jobId,
      nodeId: 'resize',
      attempt: 1,
      name: 'thumb.png',
      contentType: 'image/png',
      source: Buffer.from('png!'),
    });
    const abandoned = await worker.stage({
      tenant: 'acme',
      jobId,
      nodeId: 'resize',
      attempt: 2,
      name: 'half.png',
      contentType: 'image/png',
      source: Buffer.from('half'),
    });
    // The scheduler's completion step (docs/architecture.md) for attempt 1 only.
    await redis
      .multi()
      .hset(REDIS_KEYS.artifact(committed.id), 'state', 'committed')
      .sadd(REDIS_KEYS.jobArtifacts(jobId), committed.id)
      .zrem(REDIS_KEYS.tenantUncommittedArtifacts('acme'), committed.id)
      .exec();

    const mine = await gql(ENTITIES, { reps: [{ __typename: 'Job', id: jobId }] });
    expect(mine.errors).toBeUndefined();
    const list = mine.data!._entities[0].artifacts;
    expect(list.map((a: { id: string }) => a.id)).toEqual([committed.id]);
    expect(list[0]).toMatchObject({
      name: 'thumb.png',
      nodeId: 'resize',
      size: 4,
      sha256: sha(Buffer.from('png!')),
    });
    expect(Buffer.from(await (await fetch(list[0].downloadUrl)).arrayBuffer()).toString()).toBe('png!');
    expect((await gql(ARTIFACT, { id: abandoned.id })).data).toEqual({ artifact: null });

    const theirs = await gql(
      ENTITIES,
      { reps: [{ __typename: 'Job', id: jobId }] },
      identityHeader('globex'),
    );
    expect(theirs.data!._entities[0].artifacts).toEqual([]);

    // the sweep (grace 2 s, every 1 s) removes the abandoned attempt's artifact: record, then object
    await waitFor(async () => (await redis.exists(REDIS_KEYS.artifact(abandoned.id))) === 0, {
      timeoutMs: 15_000,
      what: 'orphan swept',
    });
    await waitFor(async () => (await store.stat(abandoned.key)) === null, {
      timeoutMs: 5_000,
      what: 'orphan object removed',
    });
    expect(await redis.smembers(REDIS_KEYS.attemptArtifacts(jobId, 'resize', 2))).toEqual([]);
    expect(await store.stat(committed.key)).not.toBeNull();
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_artifact_sweeps_total\{[^}]*outcome="ok"[^}]*\} [1-9]/);
  });
});

describe('storage outage', () => {
  it('answers UNAVAILABLE (STORAGE_UNAVAILABLE) and not-ready while S3 is down, then recovers with nothing lost', async () => {
    const kept = Buffer.from('kept,through\nthe,outage\n');
    const first = await upload(kept, { name: 'kept.csv' });
    const keptId = (await first.complete()).data!.completeUpload.id;
    const during = Buffer.from('sent,before\n');
    const pending = await upload(during, { name: 'later.csv' });

    await s3.kill();
    await waitFor(async () => (await fetch(`${app.url}/health/ready`)).status === 503, {
      timeoutMs: 10_000,
      what: 'not ready',
    });
    const r = await pending.complete();
    expect(r.errors?.[0]?.extensions).toMatchObject({
      code: 'UNAVAILABLE',
      reason: 'STORAGE_UNAVAILABLE',
      retryable: true,
    });
    expect(app.logs()).toMatch(/object storage not ready/);

    await s3.restart();
    await waitFor(async () => (await fetch(`${app.url}/health/ready`)).status === 200, {
      timeoutMs: 15_000,
      what: 'ready again',
    });
    const completed = await pending.complete();
    expect(completed.errors).toBeUndefined();
    expect(completed.data!.completeUpload.sha256).toBe(sha(during));
    const again = await gql(ARTIFACT, { id: keptId });
    const bytes = Buffer.from(await (await fetch(again.data!.artifact.downloadUrl)).arrayBuffer());
    expect(bytes.equals(kept)).toBe(true);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_artifact_storage_errors_total\{[^}]*\} [1-9]/);
    expect(metrics).toMatch(/switchyard_artifact_uploads_completed_total(\{[^}]*\})? [1-9]/);
    expect(metrics).toMatch(
      /switchyard_artifact_uploads_rejected_total\{[^}]*reason="SHA256_MISMATCH"[^}]*\} [1-9]/,
    );
  });
});

describe('lifecycle', () => {
  it('stops cleanly on SIGTERM', async () => {
    expect(await app.stop()).toBe(0);
    expect(app.logs()).toMatch(/stopped/);
  });
});
