import { Redis } from 'ioredis';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { LEASE_SCRIPTS, LeaderLease, LeaderLoop, type LeaseLogger } from './index.js';

const quiet: LeaseLogger = { info: () => undefined, warn: () => undefined };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: RedisHandle;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
/** Every lease and loop a test starts, stopped after it also when it failed midway (else its timers outlive the run). */
const started: { stop(): Promise<void> }[] = [];
const track = <T extends { stop(): Promise<void> }>(t: T): T => (started.push(t), t);
afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.stop()));
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe('LeaderLease', () => {
  it('lets one replica lead, renews while it lives, and hands over on stop', async () => {
    const key = 'test:lease:handover';
    // TTL 3 s (renewed every second): a stall of this process past 2 s lets the lease lapse though a renews
    // correctly (1 s failed once under CI's load: a stall past 667 ms)
    const a = track(new LeaderLease(redis, { key, ttlMs: 3_000, role: 'test', logger: quiet }));
    const b = track(new LeaderLease(redis, { key, ttlMs: 3_000, role: 'test', logger: quiet }));
    a.start();
    await waitFor(() => a.isLeader, { timeoutMs: 2000 });
    b.start();
    await sleep(3_500); // more than a TTL: a kept renewing, b never got in
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    expect(await redis.get(key)).toBe(a.holderId);
    await a.stop();
    expect(a.isLeader).toBe(false);
    await waitFor(() => b.isLeader, { timeoutMs: 4000 }); // b tries every second
    expect(await redis.get(key)).toBe(b.holderId);
    await b.stop();
    expect(await redis.get(key)).toBeNull();
  });

  it('renews and releases only a lease it still holds', async () => {
    const key = 'test:lease:cas';
    await redis.set(key, 'someone-else', 'PX', 10_000);
    expect(await LEASE_SCRIPTS.run(redis, 'leaseRenew', [key], ['me', 10_000])).toBe(0);
    expect(await LEASE_SCRIPTS.run(redis, 'leaseRelease', [key], ['me'])).toBe(0);
    expect(await redis.get(key)).toBe('someone-else');
    expect(await LEASE_SCRIPTS.run(redis, 'leaseRenew', [key], ['someone-else', 20_000])).toBe(1);
    expect(await redis.pttl(key)).toBeGreaterThan(10_000);
    expect(await LEASE_SCRIPTS.run(redis, 'leaseRelease', [key], ['someone-else'])).toBe(1);
    expect(await redis.exists(key)).toBe(0);
  });

  it('steps down when it cannot renew, before the lease can have expired', async () => {
    const key = 'test:lease:stepdown';
    const lost: number[] = [];
    const lease = track(
      new LeaderLease(redis, {
        key,
        ttlMs: 600,
        role: 'test',
        logger: quiet,
        onDeposed: () => lost.push(Date.now()),
      }),
    );
    lease.start();
    await waitFor(() => lease.isLeader, { timeoutMs: 2000 });
    await redis.set(key, 'usurper'); // the lease went elsewhere: renew fails, no error, just "not ours"
    await waitFor(() => !lease.isLeader, { timeoutMs: 2000 });
    expect(lost).toHaveLength(1);
    await lease.stop();
    expect(await redis.get(key)).toBe('usurper');
    await redis.del(key);
  });
});

describe('LeaderLoop', () => {
  it('runs passes only on the leader, never two at once, and the other replica takes over on stop', async () => {
    const key = 'test:loop';
    const passes: string[] = [];
    let inFlight = 0;
    let overlapped = false;
    const replica = (name: string) =>
      track(
        new LeaderLoop(redis, {
          key,
          role: 'test',
          leaseTtlMs: 1_500, // a hands over on stop, not by expiry: a long TTL only keeps a load stall from doing it
          intervalMs: 20,
          logger: quiet,
          pass: async () => {
            if (++inFlight > 1) overlapped = true;
            passes.push(name);
            await sleep(5);
            inFlight--;
          },
        }),
      );
    const a = replica('a');
    const b = replica('b');
    a.start();
    await waitFor(() => a.isLeader, { timeoutMs: 2000 });
    b.start();
    await waitFor(() => passes.length >= 5, { timeoutMs: 2000 });
    expect(new Set(passes)).toEqual(new Set(['a']));
    await a.stop();
    const stoppedAt = passes.length;
    await waitFor(() => passes.slice(stoppedAt).includes('b'), { timeoutMs: 5_000 });
    expect(passes.slice(stoppedAt).every((p) => p === 'b')).toBe(true);
    await b.stop();
    expect(overlapped).toBe(false);
  });

  it('tells onElected of each election, before the first pass of that term', async () => {
    const key = 'test:loop:elected';
    const seen: string[] = [];
    const loop = track(
      new LeaderLoop(redis, {
        key,
        role: 'test',
        leaseTtlMs: 300,
        intervalMs: 10,
        logger: quiet,
        onElected: () => seen.push('elected'),
        pass: async () => void seen.push('pass'),
      }),
    );
    loop.start();
    await waitFor(() => seen.length >= 3, { timeoutMs: 2000 });
    await redis.set(key, 'usurper'); // deposed at the next renewal, elected again once the key is gone
    await waitFor(() => !loop.isLeader, { timeoutMs: 2000 });
    const deposedAt = seen.length;
    await redis.del(key);
    await waitFor(() => seen.slice(deposedAt).includes('pass'), { timeoutMs: 2000 });
    await loop.stop();
    expect(seen[0]).toBe('elected');
    expect(seen.slice(1, deposedAt).every((s) => s === 'pass')).toBe(true);
    expect(seen.slice(deposedAt, deposedAt + 2)).toEqual(['elected', 'pass']);
  });

  it('keeps going after a pass throws', async () => {
    let calls = 0;
    const warnings: string[] = [];
    const loop = track(
      new LeaderLoop(redis, {
        key: 'test:loop:throws',
        role: 'test',
        leaseTtlMs: 300,
        intervalMs: 10,
        logger: { info: () => undefined, warn: (_o, m) => warnings.push(m) },
        pass: () => {
          calls++;
          return Promise.reject(new Error('boom'));
        },
      }),
    );
    loop.start();
    await waitFor(() => calls >= 3, { timeoutMs: 2000 });
    await loop.stop();
    expect(warnings).toContain('test pass failed');
  });
});
