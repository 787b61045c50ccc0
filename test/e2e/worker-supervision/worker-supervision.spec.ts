import { startRedis, tempDir, waitFor, type RedisHandle } from '#libs/testing';
import { SchedulerStandIn } from '../worker-support/scheduler-stand-in.js';
import { startWorker, type WorkerHandle } from '../worker-support/start-worker.js';

// A busy-looping task stops the runner's heartbeats: the actor kills it (STUCK, retryable) and restarts
// its runner; past the restart intensity the actor is quarantined and the worker turns not ready.
describe('worker: stuck runners, restarts, quarantine', () => {
  let redis: RedisHandle;
  let sched: SchedulerStandIn;
  let worker: WorkerHandle;

  beforeAll(async () => {
    redis = await startRedis();
    sched = new SchedulerStandIn(redis.url);
    worker = await startWorker('w-sup', {
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: tempDir('worker-sup'),
      WORKER_RESTART_INTENSITY: '2',
      WORKER_RESTART_PERIOD_MS: '60000',
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await sched?.close();
    await redis?.stop();
  });

  it('kills a busy task, retries it on a restarted runner, then quarantines the actor', async () => {
    const first = await sched.enqueue('test.busy', {});
    const stuck = await sched.waitReport({ jobId: first.jobId, type: 'failed' }, 20_000, worker.logs);
    expect(stuck).toMatchObject({ error: { code: 'STUCK', retryable: true } });

    // the scheduler's retry: a new attempt of the same node, on the restarted runner
    await sched.enqueue('test.busy', {}, { jobId: first.jobId, attempt: 2 });
    await sched.waitReport({ jobId: first.jobId, attempt: 2, type: 'started' }, 20_000, worker.logs);
    expect(await sched.waitReport({ jobId: first.jobId, attempt: 2, type: 'failed' })).toMatchObject({
      error: { code: 'STUCK' },
    });

    // two restarts are within the intensity: the actor still works
    const ok = await sched.enqueue('test.sleep', { ms: 100 });
    await sched.waitReport({ jobId: ok.jobId, type: 'succeeded' }, 20_000, worker.logs);
    const m = await sched.manifest('w-sup');
    expect(m!.actors[0]).toMatchObject({ state: 'IDLE', restarts: 2 });
    expect((await fetch(`${worker.url}/health/ready`)).status).toBe(200);

    // the third restart within the period exceeds it: quarantined, not ready, no more leasing
    await sched.enqueue('test.busy', {}, { jobId: first.jobId, attempt: 3 });
    expect(await sched.waitReport({ jobId: first.jobId, attempt: 3, type: 'failed' })).toMatchObject({
      error: { code: 'STUCK' },
    });
    await waitFor(async () => (await fetch(`${worker.url}/health/ready`)).status === 503, {
      what: 'not ready',
      logs: worker.logs,
    });
    const q = await waitFor(async () => {
      const man = await sched.manifest('w-sup');
      return man?.actors[0]?.state === 'QUARANTINED' ? man : null;
    });
    expect(q.ready).toBe(false);
    expect((await fetch(`${worker.url}/health/live`)).status).toBe(200);

    const parked = await sched.enqueue('test.sleep', { ms: 100 });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await sched.reports({ jobId: parked.jobId })).toEqual([]);
    expect(await sched.queue('cpu').getJobState(`${parked.jobId}.a.1`)).toBe('waiting');
  });
});
