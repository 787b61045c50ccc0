import { readFileSync } from 'node:fs';
import { startRedis, tempDir, waitFor, type RedisHandle } from '#libs/testing';
import { SchedulerStandIn } from '../worker-support/scheduler-stand-in.js';
import { startWorker, type WorkerHandle } from '../worker-support/start-worker.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// SIGKILL of a worker process mid-task: BullMQ's stalled check puts the same attempt back and another
// worker process completes it; the dead worker's runner does not live on, and its manifest expires. A lease
// (several attempts in one BullMQ job) comes back whole: the next worker runs it again from its first attempt,
// skipping one whose end the scheduler already recorded.
describe('worker: SIGKILL mid-task', () => {
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

  it('another worker process completes the node', async () => {
    const env = { REDIS_URL: redis.url, SWITCHYARD_DATA_DIR: tempDir('worker-crash') };
    const a = await startWorker('w-a', env);
    workers.push(a);
    const p = await sched.enqueue('test.sleep', { ms: 3_000 });
    await sched.waitReport({ jobId: p.jobId, type: 'progress' }, 20_000, a.logs);
    const runnerPid = findRunnerPid(a.pid);
    expect(runnerPid).toBeDefined();

    await a.kill('SIGKILL');
    const b = await startWorker('w-b', env);
    workers.push(b);

    const done = await sched.waitReport({ jobId: p.jobId, type: 'succeeded' }, 30_000, b.logs);
    expect(done).toMatchObject({ workerId: 'w-b', attempt: 1 });
    expect(await sched.terminals(p.jobId)).toHaveLength(1);
    await waitFor(() => !alive(runnerPid!), { what: `orphaned runner ${runnerPid} to exit` });
    // the dead worker's manifest expires with its TTL
    await waitFor(async () => (await sched.manifest('w-a')) === null, {
      timeoutMs: 10_000,
      what: 'w-a manifest expiry',
    });
  });

  it('a runner blocked in a busy loop dies with its SIGKILLed worker (orphan watchdog thread)', async () => {
    for (const w of workers.splice(0)) await w.stop();
    const env = {
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: tempDir('worker-orphan'),
      WORKER_HEARTBEAT_TIMEOUT_MS: '60000',
    };
    const c = await startWorker('w-c', env);
    workers.push(c);
    const p = await sched.enqueue('test.busy', {});
    expect(await sched.waitReport({ jobId: p.jobId, type: 'started' }, 20_000, c.logs)).toMatchObject({
      workerId: 'w-c',
    });
    const runnerPid = findRunnerPid(c.pid);
    expect(runnerPid).toBeDefined();
    await new Promise((r) => setTimeout(r, 500)); // the task is spinning now; its event loop is blocked
    await c.kill('SIGKILL');
    await waitFor(() => !alive(runnerPid!), { timeoutMs: 5_000, what: `busy runner ${runnerPid} to exit` });
    await sched.queue('cpu').obliterate({ force: true });
  });

  it('in the middle of a lease (decision 0007): the next worker skips the attempt whose end was recorded and runs the others once', async () => {
    for (const w of workers.splice(0)) await w.stop();
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

/** The runner is a child of the worker process (in its own process group). */
function findRunnerPid(workerPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${workerPid}/task/${workerPid}/children`, 'utf8');
    const pid = Number(children.trim().split(/\s+/)[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
