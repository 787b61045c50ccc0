import { Redis } from 'ioredis';
import { startRedis, type RedisHandle } from '#libs/testing';
import { SweepLease } from './sweep-lease.js';

let server: RedisHandle;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe('SweepLease', () => {
  it('lets one replica lead, keeps it while renewed, and hands over on release or expiry', async () => {
    const key = 'test:lease:1';
    const a = new SweepLease(redis, 300, key);
    const b = new SweepLease(redis, 300, key);
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await a.acquire()).toBe(true); // renew
    await a.release();
    expect(await b.acquire()).toBe(true);
    expect(await a.acquire()).toBe(false);
    await b.release().then(() => a.release()); // releasing a lease one does not hold changes nothing
    expect(await a.acquire()).toBe(true);
    await new Promise((r) => setTimeout(r, 400)); // a stops renewing: the lease expires
    expect(await b.acquire()).toBe(true);
    await b.release();
  });
});
