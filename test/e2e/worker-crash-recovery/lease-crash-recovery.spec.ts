import { startRedis, tempDir, type RedisHandle } from '#libs/testing';
import { SchedulerStandIn } from '../worker-support/scheduler-stand-in.js';
import { startWorker, type WorkerHandle } from '../worker-support/start-worker.js';

// SIGKILL of a worker process in the middle of a lease (decision 0007): BullMQ's stalled check puts the whole
// lease back, and the next worker runs it again from its first attempt. An attempt whose end the scheduler
// already recorded is skipped (no second run, no report); the one that was running and the rest run once.
describe('worker: SIGKILL in the middle of a lease', () => {
  let redis: RedisHandle;
  let sched: SchedulerStandIn;
  const workers: WorkerHandle[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    sched = new SchedulerStandIn(redis.url);
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
    await sched?.close();
    await redis?.stop();
  });

  it('the next worker skips the finished attempts and runs the others once', async () => {
    // a slice longer than the lease: it stays with the first worker until that one dies
    const env = {
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: tempDir('lease-crash'),
      WORKER_LEASE_SLICE_MS: '60000',
    };
    const a = await startWorker('w-a', env);
    workers.push(a);
    const [first, second, third] = await sched.enqueueLease([
      { task: 'test.sleep', inputs: { ms: 10 } },
      { task: 'test.sleep', inputs: { ms: 3_000 } },
      { task: 'test.sleep', inputs: { ms: 10 } },
    ]);
    // the scheduler records the first attempt's end, and the second's start, as it applies their reports
    await sched.waitReport({ jobId: first!.jobId, type: 'succeeded' }, 20_000, a.logs);
    await sched.setNode(first!, 'SUCCEEDED');
    await sched.waitReport({ jobId: second!.jobId, type: 'progress' }, 20_000, a.logs);
    await sched.setNode(second!, 'RUNNING');

    await a.kill('SIGKILL');
    const b = await startWorker('w-b', env);
    workers.push(b);

    for (const p of [second!, third!])
      expect(await sched.waitReport({ jobId: p.jobId, type: 'succeeded' }, 30_000, b.logs)).toMatchObject({
        workerId: 'w-b',
        attempt: 1,
      });
    // the first attempt ran once (on w-a), and w-b never started it
    expect((await sched.terminals(first!.jobId)).map((r) => r.workerId)).toEqual(['w-a']);
    expect((await sched.reports({ jobId: first!.jobId, type: 'started' })).map((r) => r.workerId)).toEqual([
      'w-a',
    ]);
    for (const p of [second!, third!]) expect(await sched.terminals(p.jobId)).toHaveLength(1);
  });
});
