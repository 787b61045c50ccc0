import { Redis } from 'ioredis';
import { STORAGE_KEYS } from '#libs/storage';
import { codeOf, gql, startGatewayStack, type GatewayStack } from '../gateway-support/gateway-stack.js';

const BURST = 15;
/** `n` aliased zero-byte createUpload fields in one mutation (20 is the gateway's root-field limit). */
const aliasedUploads = (n: number) =>
  `mutation { ${Array.from(
    { length: n },
    (_, i) =>
      `u${i}: createUpload(input: { name: "f${i}.txt", contentType: "text/plain", size: 0 }) { artifactId }`,
  ).join(' ')} }`;

/**
 * createUpload through the gateway: each root field spends a rate-limit token, aliased or not, charged before
 * any runs (as submitJob does), so one token cannot buy the uploads of a whole operation; validateGraph (a plan
 * each) likewise.
 */
describe('aliased createUpload (and validateGraph) through the gateway', () => {
  let stack: GatewayStack;
  let redis: Redis;
  const uploadsOf = async (tenant: string) =>
    Number((await redis.get(STORAGE_KEYS.tenantArtifacts(tenant))) ?? 0);

  beforeAll(async () => {
    // one token a second, so a refill during the test cannot hide a missing charge
    stack = await startGatewayStack({
      gatewayEnv: { RATE_LIMIT_PER_MINUTE: '60', RATE_LIMIT_BURST: String(BURST) },
    });
    redis = new Redis(stack.redis.url);
  }, 240_000);

  afterAll(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('spends a token per createUpload field: aliases are no way around the per-key limit', async () => {
    const { key } = await stack.createKey('uploader', ['artifacts:read', 'artifacts:write']);
    // more uploads than the bucket can ever hold: refused as such (waiting would not help), nothing written
    const tooMany = await gql(stack.url, key, aliasedUploads(20));
    expect(tooMany.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      max: BURST,
      requested: 20,
    });
    expect(await uploadsOf('uploader')).toBe(0);

    const first = await gql(stack.url, key, aliasedUploads(12));
    expect(first.body.errors).toBeUndefined();
    expect(await uploadsOf('uploader')).toBe(12);
    // ~2 tokens left (plus about one a second): 12 more uploads are over the limit, as 12 requests would be
    const second = await gql(stack.url, key, aliasedUploads(12));
    expect(codeOf(second)).toBe('RATE_LIMITED');
    expect(second.body.errors?.[0]?.extensions?.retryAfterSeconds).toBeGreaterThan(0);
    expect(await uploadsOf('uploader')).toBe(12);
  }, 60_000);

  it('spends a token per validateGraph field too (each runs the planner): refused over the burst, none run', async () => {
    const { key } = await stack.createKey('planner', ['jobs:read']);
    const validate = `query($in: SubmitJobInput!) { ${Array.from(
      { length: 20 },
      (_, i) => `v${i}: validateGraph(input: $in) { valid }`,
    ).join(' ')} }`;
    const input = { graph: { nodes: [{ id: 'a', task: 'no.such.task' }] } };
    const tooMany = await gql(stack.url, key, validate, { in: input });
    expect(tooMany.body.data ?? undefined).toBeUndefined();
    expect(tooMany.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      max: BURST,
      requested: 20,
    });
  }, 60_000);
});
