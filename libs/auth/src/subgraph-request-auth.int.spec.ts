import { redisPerSuite, waitFor } from '#libs/testing';
import { OPERATION_LIMITS } from '#libs/graphql-cost';
import {
  ApiKeyStore,
  CallerAuthError,
  createSubgraphAuth,
  rateLimitKey,
  type SubgraphAuth,
  type SubgraphAuthSettings,
} from './index.js';

const SECRET = 's'.repeat(40);
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Subgraphs in api-key mode verify keys as the gateway does: from a cache that revocations reach at once. */
describe('createSubgraphAuth (api-key mode, real redis-server)', () => {
  const redis = redisPerSuite();
  const opened: SubgraphAuth[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((a) => a.close()));
  });

  const settings = (ttlMs: number): SubgraphAuthSettings => ({
    accept: ['api-key'],
    // refills one token a second: the bucket's count below is what was spent, give or take a few
    rateLimit: { perMinute: 60, burst: 1_000 },
    rateLimitLeaseMs: 250,
    apiKeyCache: { ttlMs, maxEntries: 100 },
    operationLimits: { ...OPERATION_LIMITS, maxRootFields: 3, maxAliases: 4 },
  });
  const start = async (ttlMs: number, name = 'test-key-revocations') => {
    const auth = createSubgraphAuth(settings(ttlMs), SECRET, {
      redis: redis.client,
      redisTarget: { url: redis.url },
      subscriberName: name,
      logger: quiet,
    });
    opened.push(auth);
    await auth.start();
    return auth;
  };
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  const hgetalls = async () =>
    Number(/cmdstat_hgetall:calls=(\d+)/.exec(await redis.client.info('commandstats'))?.[1] ?? 0);
  const evalshas = async () =>
    Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.client.info('commandstats'))?.[1] ?? 0);
  const clientNames = async () => String(await redis.client.call('CLIENT', 'LIST'));

  it('answers repeated requests from one read of the key, and a revocation within a second', async () => {
    // a TTL far longer than the bound: only the pushed revocation can make it
    const auth = await start(60_000);
    // the deployment's bounds of a direct caller's operations, for admitOperation (#libs/subgraph)
    expect(auth.authenticator.operationLimits).toEqual({
      ...OPERATION_LIMITS,
      maxRootFields: 3,
      maxAliases: 4,
    });
    const store = new ApiKeyStore(redis.client);
    const { key, record } = await store.create({ tenant: 'acme', scopes: ['jobs:read'] });
    const before = await hgetalls();
    for (let i = 0; i < 20; i++)
      expect((await auth.authenticator.authenticate(bearer(key))).identity.tenant).toBe('acme');
    expect((await hgetalls()) - before).toBe(1);

    const revokedAt = Date.now();
    await store.revoke(record.id);
    await waitFor(
      async () =>
        (await auth.authenticator.authenticate(bearer(key)).catch((e: unknown) => e)) instanceof
        CallerAuthError,
      { timeoutMs: 5_000, intervalMs: 5 },
    );
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    await expect(auth.authenticator.authenticate(bearer(key))).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      extensions: { reason: 'REVOKED' },
    });
    expect(await clientNames()).toContain('name=switchyard:test-key-revocations');
  });

  it("spends a busy key's requests from tokens leased off the shared bucket, and gives back the rest", async () => {
    const auth = await start(750);
    const { key, record } = await new ApiKeyStore(redis.client).create({
      tenant: 'acme',
      scopes: ['jobs:read'],
    });
    const before = await evalshas();
    for (let i = 0; i < 100; i++) await auth.authenticator.authenticate(bearer(key));
    const steps = (await evalshas()) - before;
    expect(steps).toBeLessThan(50); // one Redis step per request without the lease
    await auth.close();
    // every admitted request spent one token of the one bucket; what was leased and not spent went back
    const tokens = Number(await redis.client.hget(rateLimitKey(record.id), 'tokens'));
    expect(tokens).toBeGreaterThanOrEqual(1_000 - 100);
    expect(tokens).toBeLessThan(1_000 - 100 + 10);
  });

  it('with API_KEY_CACHE_TTL_MS 0 reads the key on every request and opens no subscriber', async () => {
    const auth = await start(0, 'uncached-key-revocations');
    const { key } = await new ApiKeyStore(redis.client).create({ tenant: 'acme', scopes: ['jobs:read'] });
    const before = await hgetalls();
    for (let i = 0; i < 5; i++) await auth.authenticator.authenticate(bearer(key));
    expect((await hgetalls()) - before).toBe(5);
    expect(await clientNames()).not.toContain('uncached-key-revocations');
  });

  it('close() quits the subscriber connection', async () => {
    const auth = await start(750, 'closing-key-revocations');
    expect(await clientNames()).toContain('name=switchyard:closing-key-revocations');
    await auth.close();
    await waitFor(async () => !(await clientNames()).includes('closing-key-revocations'), {
      timeoutMs: 2_000,
    });
  });
});
