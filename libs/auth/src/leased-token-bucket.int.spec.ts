import { Redis } from 'ioredis';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { LeasedTokenBucket } from './leased-token-bucket.js';
import { rateLimitKey, TokenBucketLimiter } from './token-bucket.js';

/** EVALSHA/EVAL calls Redis has answered so far (INFO commandstats). */
async function scriptCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/cmdstat_(evalsha|eval):calls=(\d+)/g)) n += Number(m[2]);
  return n;
}

const tokensOf = async (redis: Redis, subject: string) =>
  Number(await redis.hget(rateLimitKey(subject), 'tokens'));

describe('LeasedTokenBucket', () => {
  let server: RedisHandle;
  let redis: Redis;
  const buckets: LeasedTokenBucket[] = [];
  const bucket = (perMinute: number, burst: number, leaseMs = 250) => {
    const b = new LeasedTokenBucket(redis, { perMinute, burst }, { leaseMs });
    buckets.push(b);
    return b;
  };
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterEach(async () => {
    for (const b of buckets.splice(0)) await b.close();
  });
  afterAll(async () => {
    await redis.quit();
    await server.stop();
  });

  it('a small burst behaves exactly like the Redis bucket: allows it, then refuses with a retry time', async () => {
    const limiter = bucket(60, 3);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limiter.take('small'));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results[3]!.retryAfterSeconds).toBe(1);
  });

  it('a busy key spends leased tokens locally: far fewer Redis steps than requests, never more than the burst', async () => {
    // 6000/min refills 0.1 token per ms: a 500-request run takes well under a second, so ≈ burst + run × 0.1.
    const limiter = bucket(6_000, 400);
    const before = await scriptCalls(redis);
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 500 }, () => limiter.take('busy')));
    const elapsed = Date.now() - started;
    const steps = (await scriptCalls(redis)) - before;
    const allowed = results.filter((r) => r.allowed).length;
    expect(allowed).toBeGreaterThanOrEqual(400);
    // what the bucket held plus what refilled meanwhile, plus one lease period of refill (the documented slack)
    expect(allowed).toBeLessThanOrEqual(400 + Math.ceil((elapsed + 250) * 0.1) + 1);
    expect(steps).toBeLessThan(250);
    for (const r of results.filter((x) => !x.allowed)) expect(r.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('two replicas share the one bucket: together they admit at most the burst', async () => {
    const a = bucket(60, 100);
    const b = bucket(60, 100);
    const results = await Promise.all(Array.from({ length: 150 }, (_, i) => (i % 2 ? a : b).take('shared')));
    // at most the burst (plus a token of refill); a lease one replica still holds at the end may leave less
    const allowed = results.filter((r) => r.allowed).length;
    expect(allowed).toBeLessThanOrEqual(101);
    expect(allowed).toBeGreaterThanOrEqual(90);
  });

  it('gives unspent leased tokens back after the lease period', async () => {
    const limiter = bucket(60, 100, 50);
    const started = Date.now();
    // a run of requests earns a lease; stop, and the bucket gets its tokens back
    for (let i = 0; i < 30; i++) await limiter.take('refund');
    // Polled (the stored count changes only when a step runs, and without the refund no step runs): a fixed
    // 200 ms sleep could end on a loaded machine before the sweep had given the tokens back.
    const left = await waitFor(
      async () => {
        const n = await tokensOf(redis, 'refund');
        return n >= 70 ? n : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 20, what: 'the leased tokens to come back' },
    );
    // 30 spent out of 100, plus the refill (1 token/s) since the first step: a fraction unless the machine is slow
    expect(left).toBeLessThanOrEqual(70 + (Date.now() - started) / 1000);
  });

  it('shares its bucket with TokenBucketLimiter (the subgraphs in api-key mode)', async () => {
    const leased = bucket(60, 2);
    const plain = new TokenBucketLimiter(redis, { perMinute: 60, burst: 2 });
    expect((await leased.take('mixed')).allowed).toBe(true);
    expect((await plain.take('mixed')).allowed).toBe(true);
    expect((await leased.take('mixed')).allowed).toBe(false);
  });

  it('costs above one (submitJobs): all or nothing, like the Redis bucket', async () => {
    const limiter = bucket(60, 100);
    expect((await limiter.take('batch', 60)).allowed).toBe(true);
    const second = await limiter.take('batch', 60);
    expect(second.allowed).toBe(false);
    expect(second.retryAfterSeconds).toBeGreaterThanOrEqual(20);
    expect((await limiter.take('batch', 40)).allowed).toBe(true);
  });

  it('Redis unreachable: the step fails (the guard answers UNAVAILABLE)', async () => {
    const dead = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    const limiter = new LeasedTokenBucket(dead, { perMinute: 60, burst: 10 }, { leaseMs: 100 });
    await expect(limiter.take('x')).rejects.toThrow();
    await limiter.close();
    dead.disconnect();
  });
});
