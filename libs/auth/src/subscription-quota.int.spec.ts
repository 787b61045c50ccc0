import { Redis } from 'ioredis';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { SharedSubscriptionSlots, subscriptionSlotsKey } from './shared-subscription-slots.js';
import { SubscriptionQuota, type SubscriptionLimit } from './subscription-quota.js';
import { CallerAuthError } from './caller-auth-error.js';

const outcome = async (fn: () => Promise<unknown>): Promise<string> => {
  try {
    await fn();
    return 'allowed';
  } catch (e) {
    return e instanceof CallerAuthError ? e.code : (e as Error).message;
  }
};

describe('SubscriptionQuota over shared Redis slots (two replicas)', () => {
  let server: RedisHandle;
  let redis: Redis;
  const closers: Array<() => Promise<unknown>> = [];
  const replica = (maxPerConnection: number, maxPerKey: number, ttlMs = 30_000) => {
    const slots = new SharedSubscriptionSlots(redis, { ttlMs });
    closers.push(() => slots.close());
    // the refusals the app's metric counts
    const refused: SubscriptionLimit[] = [];
    const quota = new SubscriptionQuota(maxPerConnection, maxPerKey, slots, {
      refused: (limit) => refused.push(limit),
    });
    return { slots, quota, refused };
  };

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    await waitFor(() => redis.status === 'ready', { timeoutMs: 5_000 });
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('two replicas together allow exactly the per-key limit; racing acquires included', async () => {
    const a = replica(100, 5);
    const b = replica(100, 5);
    // 12 concurrent subscribes over both replicas for one key: exactly 5 pass.
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => outcome(() => (i % 2 ? a : b).quota.acquire({}, 'k-race'))),
    );
    expect(results.filter((r) => r === 'allowed')).toHaveLength(5);
    expect(results.filter((r) => r === 'RATE_LIMITED')).toHaveLength(7);
    expect([...a.refused, ...b.refused]).toEqual(Array.from({ length: 7 }, () => 'subscriptionsPerKey'));
    expect(await a.quota.count('k-race')).toBe(5);
    expect(await redis.zcard(subscriptionSlotsKey('k-race'))).toBe(5);
  });

  it('a burst of subscribes of one key is a few Redis steps, granted exactly up to the limit', async () => {
    const a = replica(10_000, 1_500);
    const evalCalls = async () => {
      const info = await redis.info('commandstats');
      return [...info.matchAll(/cmdstat_(evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[2]), 0);
    };
    const before = await evalCalls();
    const results = await Promise.all(
      Array.from({ length: 2_000 }, () => outcome(() => a.quota.acquire({}, 'k-burst'))),
    );
    expect(results.filter((r) => r === 'allowed')).toHaveLength(1_500);
    expect(results.filter((r) => r === 'RATE_LIMITED')).toHaveLength(500);
    expect((await evalCalls()) - before).toBeLessThanOrEqual(4); // 500 slots per step
    expect(await redis.zcard(subscriptionSlotsKey('k-burst'))).toBe(1_500);
  });

  it('release frees the slot for the other replica, exactly once', async () => {
    const a = replica(100, 2);
    const b = replica(100, 2);
    const r1 = await a.quota.acquire({}, 'k-rel');
    await b.quota.acquire({}, 'k-rel');
    expect(await outcome(() => b.quota.acquire({}, 'k-rel'))).toBe('RATE_LIMITED');
    r1();
    r1(); // a second release changes nothing
    await waitFor(async () => (await a.quota.count('k-rel')) === 1, { timeoutMs: 2_000 });
    expect(await outcome(() => b.quota.acquire({}, 'k-rel'))).toBe('allowed');
    expect(await outcome(() => a.quota.acquire({}, 'k-rel'))).toBe('RATE_LIMITED');
  });

  it('keeps the per-connection limit local, and a refused subscribe takes no key slot', async () => {
    const a = replica(2, 3);
    const conn = {};
    await a.quota.acquire(conn, 'k-conn');
    await a.quota.acquire(conn, 'k-conn');
    expect(await outcome(() => a.quota.acquire(conn, 'k-conn'))).toBe('RATE_LIMITED');
    expect(await a.quota.count('k-conn')).toBe(2);
    expect(await outcome(() => a.quota.acquire({}, 'k-conn'))).toBe('allowed');
    expect(await outcome(() => a.quota.acquire({}, 'k-conn'))).toBe('RATE_LIMITED'); // key full (3)
    // each refusal is counted once, by the bound that refused it
    expect(a.refused).toEqual(['subscriptionsPerConnection', 'subscriptionsPerKey']);
  });

  it('different keys are independent', async () => {
    const a = replica(100, 1);
    const b = replica(100, 1);
    await a.quota.acquire({}, 'k-one');
    expect(await outcome(() => b.quota.acquire({}, 'k-one'))).toBe('RATE_LIMITED');
    expect(await outcome(() => b.quota.acquire({}, 'k-two'))).toBe('allowed');
    expect(await outcome(() => a.quota.acquire({}, 'k-three'))).toBe('allowed');
  });

  it("a live replica's heartbeat keeps its slots past the TTL; a dropped replica's slots expire after it", async () => {
    const ttlMs = 600;
    const live = replica(100, 3, ttlMs);
    const dead = replica(100, 3, ttlMs);
    await live.quota.acquire({}, 'k-ttl');
    // The "crash": the replica takes two slots, then stops heartbeating without releasing anything.
    await dead.quota.acquire({}, 'k-ttl');
    await dead.quota.acquire({}, 'k-ttl');
    const crashed = dead.slots as unknown as { heartbeat: NodeJS.Timeout | null };
    clearInterval(crashed.heartbeat!);
    expect(await outcome(() => live.quota.acquire({}, 'k-ttl'))).toBe('RATE_LIMITED');

    await new Promise((r) => setTimeout(r, ttlMs * 2));
    // Two TTLs later the crashed replica's slots are gone; the live one's slot is still counted.
    expect(await live.quota.count('k-ttl')).toBe(1);
    const members = await redis.zrange(subscriptionSlotsKey('k-ttl'), '0', '-1');
    expect(members.filter((m) => m.startsWith(`${live.slots.replicaId}:`))).toHaveLength(1);
    expect(await outcome(() => live.quota.acquire({}, 'k-ttl'))).toBe('allowed');
    expect(await outcome(() => live.quota.acquire({}, 'k-ttl'))).toBe('allowed');
    expect(await outcome(() => live.quota.acquire({}, 'k-ttl'))).toBe('RATE_LIMITED');
  });

  it('fails closed: Redis down → UNAVAILABLE, and the connection slot is given back', async () => {
    const a = replica(1, 10);
    const conn = {};
    await server.kill('SIGKILL');
    await waitFor(() => redis.status !== 'ready', { timeoutMs: 5_000 });
    expect(await outcome(() => a.quota.acquire(conn, 'k-down'))).toBe('UNAVAILABLE');
    expect(a.refused).toEqual([]); // not a bound: the store's failure (logged by the slots)
    await server.restart();
    await waitFor(() => redis.status === 'ready', { timeoutMs: 10_000 });
    // The refused subscribe did not keep the connection's only slot.
    expect(await outcome(() => a.quota.acquire(conn, 'k-down'))).toBe('allowed');
  });
});
