import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { REDIS_KEYS, schemaHash, type WorkerManifest } from '#libs/contracts';
import { waitFor, redisPerSuite } from '#libs/testing';
import { WorkerRegistry } from './worker-registry.js';
import { imageResize, modelTrain, workerManifest } from './test/manifests.js';

describe('WorkerRegistry (real redis-server)', () => {
  const suite = redisPerSuite();
  let redis: Redis;
  const warnings: Array<{ fields: object; message: string }> = [];
  const logger = { warn: (fields: object, message: string) => warnings.push({ fields, message }) };

  // What a worker does on each heartbeat (docs/architecture.md): manifest with a TTL, id in the set.
  const publish = async (manifest: WorkerManifest | string, id: string, ttlMs: number) => {
    const json = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
    await redis.multi().set(REDIS_KEYS.worker(id), json, 'PX', ttlMs).sadd(REDIS_KEYS.workers, id).exec();
  };

  beforeAll(() => {
    redis = suite.client;
  });
  beforeEach(async () => {
    warnings.length = 0;
  });

  it('returns live manifests and drops expired ones from the set', async () => {
    await publish(workerManifest('w-live', [imageResize('1.0.0')]), 'w-live', 15_000);
    await publish(workerManifest('w-dying', [modelTrain('1.0.0')]), 'w-dying', 150);
    await redis.sadd(REDIS_KEYS.workers, 'w-never-wrote');
    const registry = new WorkerRegistry(redis, logger);

    expect((await registry.liveWorkers()).map((w) => w.id).sort()).toEqual(['w-dying', 'w-live']);
    await waitFor(async () => (await redis.exists(REDIS_KEYS.worker('w-dying'))) === 0, { timeoutMs: 5_000 });

    const live = await registry.liveWorkers();
    expect(live.map((w) => w.id)).toEqual(['w-live']);
    expect(live[0]!.tasks[0]!.name).toBe('image.resize');
    expect((await redis.smembers(REDIS_KEYS.workers)).sort()).toEqual(['w-live']);
  });

  it('reuses the planner catalog for its TTL (one read for many callers), then sees a new manifest', async () => {
    let now = 1_000_000;
    const registry = new WorkerRegistry(redis, logger, 1_000, () => now);
    await publish(workerManifest('w1', [imageResize('1.0.0')]), 'w1', 15_000);
    const smembers = jest.spyOn(redis, 'smembers');
    const [a, b] = await Promise.all([registry.cachedCatalog(), registry.cachedCatalog()]);
    expect(a).toBe(b);
    expect(smembers).toHaveBeenCalledTimes(1);
    await publish(workerManifest('w2', [modelTrain('1.2.0')]), 'w2', 15_000);
    now += 999;
    expect((await registry.cachedCatalog()).catalog.has('model.train')).toBe(false);
    expect(smembers).toHaveBeenCalledTimes(1);
    now += 1;
    expect((await registry.cachedCatalog()).catalog.has('model.train')).toBe(true);
    // a fresh read is always possible (the planner asks for one when the cached catalog refused a submit)
    await redis.del(REDIS_KEYS.worker('w2'));
    expect((await registry.freshCatalog()).catalog.has('model.train')).toBe(false);
    smembers.mockRestore();
  });

  it('builds a catalog of what the live workers offer', async () => {
    await publish(workerManifest('w1', [imageResize('1.0.0'), modelTrain('1.2.0')]), 'w1', 15_000);
    await publish(workerManifest('w2', [imageResize('1.1.0')]), 'w2', 15_000);
    const catalog = await new WorkerRegistry(redis, logger).catalog();
    expect(catalog.versions('image.resize')).toEqual(['1.1.0', '1.0.0']);
    expect(catalog.resolve('model.train', '^1')?.version).toBe('1.2.0');
    expect(catalog.capabilities().find((c) => c.name === 'image.resize')?.workers).toBe(2);
  });

  it('skips and logs a manifest that does not parse or lies about its schemas, without dropping the worker', async () => {
    await publish('{"id":"w-bad","tasks":"none"}', 'w-bad', 15_000);
    const lying = { ...modelTrain(), schemaHash: schemaHash({}, {}) };
    await publish(workerManifest('w-lying', [lying, imageResize()]), 'w-lying', 15_000);
    const registry = new WorkerRegistry(redis, logger);

    const catalog = await registry.catalog();
    expect(catalog.taskNames()).toEqual(['image.resize']);
    expect(warnings.map((w) => [w.message, (w.fields as { workerId: string }).workerId])).toEqual([
      ['worker manifest skipped: it does not parse', 'w-bad'],
      ['worker task left out of the catalog', 'w-lying'],
    ]);
    expect(await redis.sismember(REDIS_KEYS.workers, 'w-bad')).toBe(1);
  });

  it('keeps a worker whose manifest appears between the read and the clean-up', async () => {
    await redis.sadd(REDIS_KEYS.workers, 'w-joining');
    const racing = new Redis(suite.url);
    const mget = racing.mget.bind(racing);
    // The worker writes its first manifest right after we found it missing.
    racing.mget = (async (...args: Parameters<typeof mget>) => {
      const result = await mget(...args);
      await redis.set(
        REDIS_KEYS.worker('w-joining'),
        JSON.stringify(workerManifest('w-joining', [])),
        'PX',
        15_000,
      );
      return result;
    }) as typeof racing.mget;
    try {
      expect(await new WorkerRegistry(racing).liveWorkers()).toEqual([]);
      expect(await redis.sismember(REDIS_KEYS.workers, 'w-joining')).toBe(1);
      expect((await new WorkerRegistry(racing).liveWorkers()).map((w) => w.id)).toEqual(['w-joining']);
    } finally {
      await racing.quit();
    }
  });
});
