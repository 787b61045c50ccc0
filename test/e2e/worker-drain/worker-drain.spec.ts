import { REDIS_KEYS } from '#libs/contracts';
import { startRedis, tempDir, type RedisHandle } from '#libs/testing';
import { SchedulerStandIn } from '../worker-support/scheduler-stand-in.js';
import { startWorker } from '../worker-support/start-worker.js';

// SIGTERM drains: stop leasing, running attempts get the grace period, then they are stopped and
// released (requeued by the scheduler, not failed); the manifest is removed; the process exits 0.
describe('worker: SIGTERM drain', () => {
  let redis: RedisHandle;
  let sched: SchedulerStandIn;

  beforeAll(async () => {
    redis = await startRedis();
    sched = new SchedulerStandIn(redis.url);
  });
  afterAll(async () => {
    await sched?.close();
    await redis?.stop();
  });

  it('releases an attempt that outlives the grace, deregisters and exits 0', async () => {
    const w = await startWorker('w-drain', {
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: tempDir('drain'),
      WORKER_DRAIN_GRACE_MS: '1000',
    });
    const long = await sched.enqueue('test.sleep', { ms: 30_000 });
    await sched.waitReport({ jobId: long.jobId, type: 'progress' }, 20_000, w.logs);
    const waiting = await sched.enqueue('test.sleep', { ms: 100 });

    const t0 = Date.now();
    const code = await w.stop(20_000);
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);

    expect(await sched.terminals(long.jobId)).toEqual([
      expect.objectContaining({
        type: 'released',
        workerId: 'w-drain',
        reason: expect.stringMatching(/draining/),
      }),
    ]);
    // nothing new was leased while draining
    expect(await sched.reports({ jobId: waiting.jobId })).toEqual([]);
    expect(await sched.queue('cpu').getJobState(`${waiting.jobId}.a.1`)).toBe('waiting');
    expect(await sched.queue('cpu').getJobState(`${long.jobId}.a.1`)).toBe('completed');
    expect(await sched.redis.exists(REDIS_KEYS.worker('w-drain'))).toBe(0);
    expect(await sched.redis.sismember(REDIS_KEYS.workers, 'w-drain')).toBe(0);
    // every connection closed: none named after this worker is left
    const clients = await sched.redis.client('LIST');
    expect(String(clients)).not.toMatch(/name=switchyard:worker:/);
    await sched.queue('cpu').drain();
  });

  it('lets an attempt that finishes within the grace succeed', async () => {
    const w = await startWorker('w-drain2', {
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: tempDir('drain2'),
      WORKER_DRAIN_GRACE_MS: '8000',
    });
    const p = await sched.enqueue('test.sleep', { ms: 2_000 });
    await sched.waitReport({ jobId: p.jobId, type: 'progress' }, 20_000, w.logs);
    expect(await w.stop(20_000)).toBe(0);
    expect(await sched.terminals(p.jobId)).toEqual([
      expect.objectContaining({ type: 'succeeded', workerId: 'w-drain2' }),
    ]);
  });
});
