import { execFileSync } from 'node:child_process';
import { startRedis, tempDir, waitFor, type RedisHandle } from '#libs/testing';
import { SchedulerStandIn } from '../worker-support/scheduler-stand-in.js';
import { startWorker } from '../worker-support/start-worker.js';

/** The pids of `pid`'s direct children (the worker's runners). */
function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there is no child
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Issue 13: SIGTERM while Redis is gone for good must still drain within the worker's budget (Kubernetes
// and compose give 30 s), say what it abandoned, and leave no runner behind.
describe('worker: SIGTERM drain with Redis gone', () => {
  let redis: RedisHandle;
  let sched: SchedulerStandIn;
  let schedClosed = false;

  beforeAll(async () => {
    redis = await startRedis();
    sched = new SchedulerStandIn(redis.url);
  });
  afterAll(async () => {
    if (!schedClosed) await sched?.close();
    await redis?.stop();
  });

  it('exits within WORKER_DRAIN_BUDGET_MS and kills its runners', async () => {
    const budgetMs = 8_000;
    const w = await startWorker('w-drain-gone', {
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: tempDir('drain-gone'),
      WORKER_DRAIN_BUDGET_MS: String(budgetMs),
      WORKER_DRAIN_GRACE_MS: '1000',
      // the default: a close bounded by it alone (plus grace and kill) overran the budget
      WORKER_CLOSE_TIMEOUT_MS: '10000',
      // the report retry window is far longer than the budget: the drain must not wait for it
      WORKER_REPORT_RETRY_MS: '60000',
    });
    const long = await sched.enqueue('test.sleep', { ms: 60_000 });
    await sched.waitReport({ jobId: long.jobId, type: 'progress' }, 20_000, w.logs);
    const runners = childPids(w.pid);
    expect(runners.length).toBeGreaterThan(0);

    schedClosed = true;
    await sched.close();
    await redis.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));

    const t0 = Date.now();
    const code = await w.stop(budgetMs + 20_000);
    const tookMs = Date.now() - t0;
    expect({ tookMs, code, logs: tookMs > budgetMs + 2_000 ? w.logs() : '' }).toMatchObject({
      tookMs: expect.any(Number),
      code: 0,
    });
    expect(tookMs).toBeLessThan(budgetMs + 2_000);
    // every runner (and its process group) is gone once the worker has exited
    await waitFor(async () => runners.every((p) => !alive(p)), {
      timeoutMs: 2_000,
      what: 'the runners to be gone',
    });
    expect(w.logs()).toMatch(/abandoned/);
  });
});
