import { Redis } from 'ioredis';
import { startRedis, type RedisHandle } from '#libs/testing';
import { TokenBucketLimiter } from './token-bucket.js';

describe('TokenBucketLimiter', () => {
  let server: RedisHandle;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    await redis.quit();
    await server.stop();
  });

  it('allows a burst, then refuses with a retry time, per subject', async () => {
    const limiter = new TokenBucketLimiter(redis, { perMinute: 60, burst: 3 });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limiter.take('k1'));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results[3]!.retryAfterSeconds).toBe(1);
    expect((await limiter.take('k2')).allowed).toBe(true);
  });

  it('refills at the configured rate', async () => {
    // one token per 500 ms: a loaded machine may take tens of ms between two takes, never half a second
    const limiter = new TokenBucketLimiter(redis, { perMinute: 120, burst: 1 });
    expect((await limiter.take('k3')).allowed).toBe(true);
    expect((await limiter.take('k3')).allowed).toBe(false);
    await new Promise((r) => setTimeout(r, 600));
    expect((await limiter.take('k3')).allowed).toBe(true);
  });

  it('shares one bucket between limiter instances (gateway replicas)', async () => {
    const a = new TokenBucketLimiter(redis, { perMinute: 60, burst: 2 });
    const b = new TokenBucketLimiter(redis, { perMinute: 60, burst: 2 });
    expect((await a.take('shared')).allowed).toBe(true);
    expect((await b.take('shared')).allowed).toBe(true);
    expect((await a.take('shared')).allowed).toBe(false);
  });
});
