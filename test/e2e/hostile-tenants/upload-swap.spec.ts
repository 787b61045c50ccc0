/**
 * Hostile tenants at the upload API (issue 9, item 5 and the storage quota of item 2), through the real stack
 * (gateway, both subgraphs, redis-server, the local S3 server) from the built apps:
 *  - a committed upload cannot be swapped: posting other bytes (text/html) with the same grant afterwards
 *    leaves what downloads return unchanged, and downloads are attachments of the recorded type;
 *  - an upload bigger than declared is refused;
 *  - a tenant over its stored-bytes quota gets QUOTA_EXCEEDED while another tenant uploads fine.
 * The local S3 server enforces no POST policy (it stores whatever is posted), so where only the store can
 * refuse (the size, the type, the key of a POST), the test asserts on the signed policy itself and on what
 * completeUpload and downloads do with what got through.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { STORAGE_KEYS } from '#libs/storage';
import {
  codeOf,
  gql,
  startGatewayStack,
  type GatewayStack,
  type GqlResponse,
} from '../gateway-support/gateway-stack.js';
import { sendUpload, type UploadTicketLike } from '../artifacts-uploads/send-upload.js';

const QUOTA = 4096;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const CREATE = `mutation($input: CreateUploadInput!) { createUpload(input: $input) { artifactId uploadUrl method headers fields expiresAt } }`;
const COMPLETE = `mutation($id: ID!) { completeUpload(artifactId: $id) { id size sha256 contentType downloadUrl } }`;
const ARTIFACT = `query($id: ID!) { artifact(id: $id) { id size sha256 contentType downloadUrl } }`;
const DELETE = `mutation($id: ID!) { deleteArtifact(id: $id) }`;

type Ticket = UploadTicketLike & { artifactId: string; expiresAt: string };

let stack: GatewayStack;
let redis: Redis;
let keyA: string;
let keyB: string;

beforeAll(async () => {
  stack = await startGatewayStack({
    artifactsEnv: { TENANT_MAX_STORED_BYTES: String(QUOTA), ARTIFACT_UPLOAD_URL_TTL_SECONDS: '120' },
  });
  redis = new Redis(stack.redis.url);
  keyA = (await stack.createKey('tenant-a', ['artifacts:read', 'artifacts:write'])).key;
  keyB = (await stack.createKey('tenant-b', ['artifacts:read', 'artifacts:write'])).key;
}, 180_000);

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

async function createUpload(
  key: string,
  input: { name: string; contentType: string; size: number; sha256?: string },
): Promise<GqlResponse<{ createUpload: Ticket }>> {
  return gql(stack.url, key, CREATE, { input });
}

async function uploadAndComplete(key: string, name: string, bytes: Buffer, contentType = 'text/csv') {
  const created = await createUpload(key, { name, contentType, size: bytes.length, sha256: sha(bytes) });
  expect(created.body.errors).toBeUndefined();
  const ticket = created.body.data!.createUpload;
  expect((await sendUpload(ticket, bytes)).status).toBeLessThan(300);
  const done = await gql(stack.url, key, COMPLETE, { id: ticket.artifactId });
  expect(done.body.errors).toBeUndefined();
  return { ticket, artifact: done.body.data!.completeUpload };
}

/** The POST policy the store checks: the base64 JSON in the form, as signed. */
function signedPolicy(ticket: Ticket): { expiration: string; conditions: unknown[] } {
  return JSON.parse(Buffer.from(ticket.fields.policy!, 'base64').toString('utf8'));
}

async function download(url: string) {
  const res = await fetch(url);
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('a committed upload cannot be swapped', () => {
  it('posting other bytes as text/html with the same grant after completeUpload changes nothing that is read', async () => {
    const original = Buffer.from('name,score\nada,1\n');
    const { ticket, artifact } = await uploadAndComplete(keyA, 'scores.csv', original);
    expect(artifact).toMatchObject({ size: original.length, sha256: sha(original), contentType: 'text/csv' });

    // the attack: the same form, other bytes, another type
    const evil = Buffer.from('<html><script>alert(document.cookie)</script></html>');
    const again = await sendUpload(ticket, evil, { 'Content-Type': 'text/html' });
    // S3/MinIO refuse it (Content-Type and size break the policy); the local S3 server stores it under the
    // grant's key. Either way it must not reach what readers get:
    expect([204, 403, 400]).toContain(again.status);

    const read = await gql(stack.url, keyA, ARTIFACT, { id: artifact.id });
    expect(read.body.data!.artifact).toMatchObject({ size: original.length, sha256: sha(original) });
    const { res, bytes } = await download(read.body.data!.artifact.downloadUrl);
    expect(res.status).toBe(200);
    expect(bytes.equals(original)).toBe(true);
    expect(sha(bytes)).toBe(read.body.data!.artifact.sha256);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="scores.csv"');
    expect(res.headers.get('content-type')).toBe('text/csv');
    // completing again answers the committed artifact, not the new bytes
    const recomplete = await gql(stack.url, keyA, COMPLETE, { id: artifact.id });
    expect(recomplete.body.data!.completeUpload).toMatchObject({ sha256: sha(original) });
    expect((await download(recomplete.body.data!.completeUpload.downloadUrl)).bytes.equals(original)).toBe(
      true,
    );

    // the grant covers exactly its staging key; the committed object lives elsewhere
    const policy = signedPolicy(ticket);
    const stagingKey = `tenant-a/incoming/${artifact.id}/scores.csv`;
    expect(policy.conditions).toContainEqual(['eq', '$key', stagingKey]);
    expect(JSON.stringify(policy.conditions)).not.toMatch(/starts-with/);
    const committedPath = new URL(artifact.downloadUrl).pathname;
    expect(committedPath).toMatch(new RegExp(`/tenant-a/uploads/${artifact.id}/[0-9a-f-]{36}/scores\\.csv$`));
    expect(committedPath.endsWith(stagingKey)).toBe(false);
  });

  it('binds the grant to the declared type and exact size, expiring soon', async () => {
    const created = await createUpload(keyA, { name: 'img.png', contentType: 'image/png', size: 10 });
    const ticket = created.body.data!.createUpload;
    expect(ticket.method).toBe('POST');
    const policy = signedPolicy(ticket);
    expect(policy.conditions).toEqual(
      expect.arrayContaining([
        ['eq', '$Content-Type', 'image/png'],
        ['content-length-range', 10, 10],
      ]),
    );
    const expiresAt = new Date(policy.expiration).getTime();
    expect(expiresAt).toBe(new Date(ticket.expiresAt).getTime());
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 120_000);
    expect(ticket.fields['x-amz-signature']).toMatch(/^[0-9a-f]{64}$/);
    await gql(stack.url, keyA, COMPLETE, { id: ticket.artifactId }); // NOT_UPLOADED; left to the sweep
  });

  it('refuses an upload bigger than declared (the store refuses the POST; the local one does not, completeUpload does)', async () => {
    const declared = 10;
    const created = await createUpload(keyA, { name: 'small.csv', contentType: 'text/csv', size: declared });
    const ticket = created.body.data!.createUpload;
    const sent = await sendUpload(ticket, Buffer.alloc(2000, 0x41));
    expect([204, 400, 403]).toContain(sent.status);
    const done = await gql(stack.url, keyA, COMPLETE, { id: ticket.artifactId });
    expect(done.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      reason: 'SIZE_MISMATCH',
    });
    expect((await gql(stack.url, keyA, ARTIFACT, { id: ticket.artifactId })).body.data).toEqual({
      artifact: null,
    });
    expect(signedPolicy(ticket).conditions).toContainEqual(['content-length-range', declared, declared]);
  });
});

describe('stored-bytes quota', () => {
  it('refuses tenant A over its quota with QUOTA_EXCEEDED (nothing written) while tenant B uploads fine', async () => {
    const usedKey = STORAGE_KEYS.tenantStoredBytes('tenant-a');
    const used = Number((await redis.get(usedKey)) ?? 0);
    expect(used).toBeGreaterThan(0); // the earlier uploads and the pending reservation count

    // a reservation that fits, never sent: it still counts
    const reserve = QUOTA - used - 100;
    const held = await createUpload(keyA, {
      name: 'held.bin',
      contentType: 'application/octet-stream',
      size: reserve,
    });
    expect(held.body.errors).toBeUndefined();

    const keysBefore = await redis.dbsize();
    const refused = await createUpload(keyA, { name: 'over.csv', contentType: 'text/csv', size: 101 });
    expect(codeOf(refused)).toBe('QUOTA_EXCEEDED');
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      limit: 'storedBytes',
      max: QUOTA,
      used: QUOTA - 100,
      requested: 101,
    });
    expect(refused.body.data?.createUpload ?? null).toBeNull();
    expect(await redis.dbsize()).toBe(keysBefore); // nothing persisted
    expect(Number(await redis.get(usedKey))).toBe(QUOTA - 100);

    // tenant B is not affected
    const bBytes = Buffer.alloc(3000, 0x42);
    const b = await uploadAndComplete(keyB, 'b.bin', bBytes, 'application/octet-stream');
    expect(b.artifact).toMatchObject({ size: 3000, sha256: sha(bBytes) });
    expect((await download(b.artifact.downloadUrl)).bytes.equals(bBytes)).toBe(true);

    // deleting frees A's quota again
    const small = Buffer.from('x\n');
    const fits = await uploadAndComplete(keyA, 'fits.csv', small);
    expect((await gql(stack.url, keyA, DELETE, { id: fits.artifact.id })).body.data).toEqual({
      deleteArtifact: true,
    });
    expect(Number(await redis.get(usedKey))).toBe(QUOTA - 100);

    const metrics = await (await fetch(`${stack.artifacts.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_artifact_quota_refusals_total\{[^}]*quota="storedBytes"[^}]*\} 1/);
  });
});
