import { Redis } from 'ioredis';
import { REDIS_KEYS } from '#libs/contracts';
import { startRedis, type RedisHandle } from '#libs/testing';
import { apiKeyFromAuthorization, parseApiKey } from './api-key.js';
import { API_KEY_INDEX, ApiKeyError, ApiKeyStore } from './api-key-store.js';

describe('API keys', () => {
  let server: RedisHandle;
  let redis: Redis;
  let now = new Date('2026-01-01T00:00:00.000Z');
  let store: ApiKeyStore;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    store = new ApiKeyStore(redis, () => now);
  });
  afterAll(async () => {
    await redis.quit();
    await server.stop();
  });

  const reason = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return e instanceof ApiKeyError ? e.reason : `not an ApiKeyError: ${String(e)}`;
    }
    return 'accepted';
  };

  it('creates sy_<id>_<secret> keys, stores only a hash, and verifies them', async () => {
    const { key, record } = await store.create({
      tenant: 'acme',
      scopes: ['jobs:read', 'jobs:write'],
      name: 'ci',
    });
    expect(key).toMatch(/^sy_[0-9a-f]{16}_[0-9a-f]{64}$/);
    expect(parseApiKey(key)!.id).toBe(record.id);
    const stored = await redis.hgetall(REDIS_KEYS.apiKey(record.id));
    expect(JSON.stringify(stored)).not.toContain(parseApiKey(key)!.secret);
    expect(stored).toMatchObject({ tenant: 'acme', name: 'ci', createdAt: now.toISOString() });
    await expect(store.verify(key)).resolves.toEqual({
      id: record.id,
      tenant: 'acme',
      scopes: ['jobs:read', 'jobs:write'],
    });
    expect((await store.get(record.id))!.lastUsedAt).toBe(now.toISOString());
  });

  it('refuses malformed, unknown, wrong-secret and revoked keys', async () => {
    const { key, record } = await store.create({ tenant: 'acme', scopes: ['admin'] });
    const { id } = parseApiKey(key)!;
    expect(await reason(store.verify('nope'))).toBe('MALFORMED');
    expect(await reason(store.verify(`sy_${'0'.repeat(16)}_${'1'.repeat(64)}`))).toBe('UNKNOWN');
    expect(await reason(store.verify(`sy_${id}_${'1'.repeat(64)}`))).toBe('BAD_SECRET');
    expect(await store.revoke(record.id)).toBe(true);
    expect(await reason(store.verify(key))).toBe('REVOKED');
    expect(await store.revoke('ffffffffffffffff')).toBe(false);
  });

  it('writes lastUsedAt at most once a minute', async () => {
    const { key, record } = await store.create({ tenant: 'acme', scopes: ['jobs:read'] });
    await store.verify(key);
    const first = (await store.get(record.id))!.lastUsedAt;
    now = new Date(now.getTime() + 30_000);
    await store.verify(key);
    expect((await store.get(record.id))!.lastUsedAt).toBe(first);
    now = new Date(now.getTime() + 31_000);
    await store.verify(key);
    expect((await store.get(record.id))!.lastUsedAt).toBe(now.toISOString());
  });

  it('lists keys without their hashes, filtered by tenant', async () => {
    await store.create({ tenant: 'globex', scopes: ['jobs:read'] });
    const globex = await store.list('globex');
    expect(globex).toHaveLength(1);
    expect(globex[0]).not.toHaveProperty('secretHash');
    expect((await store.list()).length).toBeGreaterThan(1);
  });

  it('rejects bad input with a contract error and writes nothing', async () => {
    const before = await redis.scard(API_KEY_INDEX);
    await expect(store.create({ tenant: 'Not A Tenant', scopes: ['jobs:read'] })).rejects.toThrow(/tenant/);
    await expect(store.create({ tenant: 'acme', scopes: ['root' as never] })).rejects.toThrow(/scopes/);
    await expect(store.create({ tenant: 'acme', scopes: [] })).rejects.toThrow(/scope/);
    expect(await redis.scard(API_KEY_INDEX)).toBe(before);
  });

  it('reads the key from an Authorization header', () => {
    expect(apiKeyFromAuthorization('Bearer sy_a_b')).toBe('sy_a_b');
    expect(apiKeyFromAuthorization('bearer   sy_a_b ')).toBe('sy_a_b');
    expect(apiKeyFromAuthorization(undefined)).toBeNull();
    expect(apiKeyFromAuthorization('Basic a b')).toBeNull();
  });
});
