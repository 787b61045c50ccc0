import { Redis } from 'ioredis';
import { REDIS_KEYS, WorkerManifest } from '#libs/contracts';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { ManifestPublisher } from './manifest-publisher.js';

const quiet = { warn: () => undefined, error: () => undefined };

describe('ManifestPublisher (real Redis)', () => {
  let redis: RedisHandle;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    client.disconnect();
    await redis.stop();
  });

  it('registers with a TTL, refreshes it, rewrites on change and deregisters', async () => {
    let state: 'IDLE' | 'BUSY' = 'IDLE';
    const at = new Date().toISOString();
    const pub = new ManifestPublisher(client, {
      workerId: 'w1',
      heartbeatMs: 200,
      ttlMs: 1000,
      activityDelayMs: 1_000, // the read right after activity() must come back within it, also on a loaded machine
      logger: quiet,
      build: () => ({
        id: 'w1',
        hostname: 'h',
        protocolVersion: '1.0',
        devices: [{ index: 0, kind: 'GPU', name: 'NVIDIA H200', uuid: 'GPU-1', memoryMb: 143771 }],
        actors: [{ id: 'w1/gpu0', device: 'GPU 0', resourceClass: 'gpu', state, restarts: 0 }],
        tasks: [],
        ready: true,
        startedAt: at,
      }),
    });
    await pub.start();
    const read = async () => WorkerManifest.parse(JSON.parse((await client.get(REDIS_KEYS.worker('w1')))!));
    expect((await read()).devices[0]!.name).toBe('NVIDIA H200');
    expect(await client.sismember(REDIS_KEYS.workers, 'w1')).toBe(1);
    const ttl = await client.pttl(REDIS_KEYS.worker('w1'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
    await new Promise((r) => setTimeout(r, 1500)); // past one TTL: the heartbeat kept it alive
    expect(await client.exists(REDIS_KEYS.worker('w1'))).toBe(1);

    state = 'BUSY';
    pub.changed();
    await waitFor(async () => (await read()).actors[0]!.state === 'BUSY', { what: 'rewritten manifest' });

    // activity changes are coalesced: several within the delay make one write, after the delay
    const writes = async () => Number(/cmdstat_set:calls=(\d+)/.exec(await client.info('commandstats'))?.[1]);
    const internals = pub as unknown as { timer: NodeJS.Timeout; writing?: Promise<void> };
    clearInterval(internals.timer); // no heartbeat writes in between
    // a heartbeat write already under way (and a change queued behind it) must land before the count, not in it
    while (internals.writing) await internals.writing;
    const before = await writes();
    state = 'IDLE';
    pub.activity();
    pub.activity();
    pub.activity();
    expect((await read()).actors[0]!.state).toBe('BUSY');
    await waitFor(async () => (await read()).actors[0]!.state === 'IDLE', { what: 'activity written' });
    expect((await writes()) - before).toBe(1);
    expect((await read()).tasks).toEqual([]);

    await pub.stop();
    expect(await client.exists(REDIS_KEYS.worker('w1'))).toBe(0);
    expect(await client.sismember(REDIS_KEYS.workers, 'w1')).toBe(0);
  });
});
