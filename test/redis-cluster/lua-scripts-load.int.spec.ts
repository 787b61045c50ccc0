import { Redis } from 'ioredis';
import { startRedis, type RedisHandle } from '#libs/testing';
import { LEASE_SCRIPTS, type ScriptSet } from '#libs/redis';
import { RATE_LIMIT_SCRIPTS, SUBSCRIPTION_SLOT_SCRIPTS } from '#libs/auth';
import { STORAGE_SCRIPTS } from '../../libs/storage/src/index.js';
import { SCHEDULER_SCRIPTS } from '../../apps/jobs-subgraph/src/scheduler/scripts.js';
import { WORKER_REGISTRY_SCRIPTS } from '../../apps/jobs-subgraph/src/registry/worker-registry.js';

/** Every script set of the repository: each file present, its includes resolved, and compiled by Redis. */
const SETS: ScriptSet<string>[] = [
  SCHEDULER_SCRIPTS,
  STORAGE_SCRIPTS,
  RATE_LIMIT_SCRIPTS,
  SUBSCRIPTION_SLOT_SCRIPTS,
  WORKER_REGISTRY_SCRIPTS,
  LEASE_SCRIPTS,
];

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

describe('Lua script sets', () => {
  it.each(SETS.map((s) => [s.label, s] as const))('%s: every script loads and compiles', async (_l, set) => {
    expect(set.check()).toEqual([...set.names]);
    await set.loadAll(redis);
    for (const name of set.names) {
      const { sha, lua } = set.get(name);
      expect(lua).not.toMatch(/^--@include /m); // every include line was replaced
      expect(await redis.script('EXISTS', sha)).toEqual([1]);
    }
  });

  it('runs by sha, sends the source after a SCRIPT FLUSH, and refuses a wrong key count', async () => {
    await redis.script('FLUSH');
    expect(await LEASE_SCRIPTS.run(redis, 'leaseRelease', ['t:lease'], ['me'])).toBe(0);
    await redis.set('t:lease', 'me');
    expect(await LEASE_SCRIPTS.run(redis, 'leaseRelease', ['t:lease'], ['me'])).toBe(1);
    await expect(LEASE_SCRIPTS.run(redis, 'leaseRelease', ['a', 'b'], ['me'])).rejects.toThrow(
      'leaseRelease takes 1 keys, got 2',
    );
    await expect(WORKER_REGISTRY_SCRIPTS.run(redis, 'sremExpiredWorkers', [], [])).rejects.toThrow(
      'one or more',
    );
  });
});
