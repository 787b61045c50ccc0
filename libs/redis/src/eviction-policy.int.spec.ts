import { Redis } from 'ioredis';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { createRedis, quitRedis, watchEvictionPolicy, type RedisLogger } from './index.js';

/** The check against a real redis-server: read from INFO memory at each connection and on demand. */
describe('watchEvictionPolicy (real redis-server)', () => {
  let server: RedisHandle;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });
  afterEach(async () => {
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
  });

  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const push = (level: string) => (obj: object, msg: string) =>
    lines.push({ level, msg, obj: obj as Record<string, unknown> });
  const logger: RedisLogger = { info: push('info'), warn: push('warn'), error: push('error') };
  beforeEach(() => void (lines.length = 0));

  it('the test servers run with noeviction (startRedis, the local stack)', async () => {
    const info = await admin.info('memory');
    expect(info).toMatch(/^maxmemory_policy:noeviction\r?$/m);
  });

  it('refuses in production when the first connection finds an evicting policy', async () => {
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const refusals: Error[] = [];
    const redis = createRedis({ url: server.url, name: 'refuse', role: 'command', logger: quiet });
    try {
      watchEvictionPolicy(redis, {
        name: 'refuse',
        production: true,
        logger,
        refuse: (e) => refusals.push(e),
      });
      await waitFor(() => refusals.length > 0);
      expect(refusals[0]!.message).toMatch(/maxmemory-policy is allkeys-lru/);
    } finally {
      await quitRedis(redis);
    }
  });

  it('logs a policy changed at run time when it is read again, and reads it again after a reconnect', async () => {
    const redis = createRedis({ url: server.url, name: 'watch', role: 'command', logger: quiet });
    try {
      const monitor = watchEvictionPolicy(redis, {
        name: 'watch',
        production: true,
        logger,
        refuse: () => {
          throw new Error('no refusal after a good start');
        },
      });
      await waitFor(() => monitor.policy === 'noeviction');
      await admin.config('SET', 'maxmemory-policy', 'volatile-lru');
      expect(await monitor.check(redis)).toBe('volatile-lru');
      expect(lines.at(-1)).toMatchObject({ level: 'error', obj: { maxmemory_policy: 'volatile-lru' } });

      // a reconnect (e.g. a failover to another server) reads the policy again
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await waitFor(() => monitor.policy === 'noeviction', { timeoutMs: 5_000 });
      expect(lines.map((l) => [l.level, l.obj.maxmemory_policy])).toEqual([
        ['info', 'noeviction'],
        ['error', 'volatile-lru'],
        ['info', 'noeviction'],
      ]);
    } finally {
      await quitRedis(redis);
    }
  });
});

const quiet: RedisLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
