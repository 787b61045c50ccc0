import { waitFor, type RedisHandle } from '#libs/testing';
import type { SchedulerStandIn } from '../worker-support/scheduler-stand-in.js';
import type { WorkerHandle } from '../worker-support/start-worker.js';
import { workerFixture, type WorkerFixture } from '../worker-support/worker-fixture.js';

// Redis SIGKILLed and restarted (same AOF) mid-task: the attempt still completes, its reports are
// written after the outage, and the worker goes on leasing new attempts.
describe('worker: Redis outage mid-task', () => {
  let redis: RedisHandle;
  let sched: SchedulerStandIn;
  let worker: WorkerHandle;
  let fixture: WorkerFixture | undefined;

  beforeAll(async () => {
    fixture = await workerFixture('w-outage', {
      WORKER_LOCK_DURATION_MS: '15000',
      WORKER_STALLED_INTERVAL_MS: '5000',
    });
    ({ redis, sched, worker } = fixture);
  });
  afterAll(() => fixture?.stop());

  it('completes the attempt and keeps working', async () => {
    const p = await sched.enqueue('test.sleep', { ms: 5_000 });
    await sched.waitReport({ jobId: p.jobId, type: 'progress' }, 20_000, worker.logs);
    await redis.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 2_000));
    await redis.restart();

    const done = await sched.waitReport({ jobId: p.jobId, type: 'succeeded' }, 30_000, worker.logs);
    expect(done).toMatchObject({ workerId: 'w-outage', outputs: { sleptMs: expect.any(Number) } });
    expect(await sched.terminals(p.jobId)).toHaveLength(1);
    const progress = await sched.reports({ jobId: p.jobId, type: 'progress' });
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(worker.logs()).toMatch(/redis reconnecting/); // the outage was real for the worker

    const next = await sched.enqueue('test.sleep', { ms: 100 });
    await sched.waitReport({ jobId: next.jobId, type: 'succeeded' }, 30_000, worker.logs);
    await waitFor(async () => (await sched.manifest('w-outage'))?.ready === true, {
      what: 'manifest republished',
    });
  });
});
