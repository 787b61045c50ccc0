import { BULLMQ_PREFIX, REDIS_KEYS } from '#libs/contracts';
import { waitFor } from '#libs/testing';
import type { SchedulerStandIn } from '../worker-support/scheduler-stand-in.js';
import type { WorkerHandle } from '../worker-support/start-worker.js';
import { workerFixture, type WorkerFixture } from '../worker-support/worker-fixture.js';

// A worker process without a GPU: registers, runs test tasks with progress, honours cancellation.
describe('worker: run, progress, cancel', () => {
  let sched: SchedulerStandIn;
  let worker: WorkerHandle;
  let fixture: WorkerFixture | undefined;

  beforeAll(async () => {
    fixture = await workerFixture('w-run');
    ({ sched, worker } = fixture);
  });
  afterAll(() => fixture?.stop());

  it('advertises a CPU-only manifest with its tasks, ready', async () => {
    const m = await waitFor(() => sched.manifest('w-run'), { what: 'manifest' });
    expect(m.ready).toBe(true);
    expect(m.devices).toEqual([expect.objectContaining({ kind: 'CPU', index: 0 })]);
    expect(m.actors).toEqual([
      expect.objectContaining({
        id: 'w-run/cpu0',
        device: 'CPU 0',
        resourceClass: 'cpu',
        state: 'IDLE',
        restarts: 0,
      }),
    ]);
    expect(m.tasks.map((t) => t.name)).toEqual(
      expect.arrayContaining(['test.sleep', 'test.fail', 'test.busy']),
    );
    // No GPU actor here, so no GPU task is offered: the planner must not queue work nobody can lease.
    expect(m.tasks.map((t) => t.name)).not.toContain('gpu.probe');
    expect(m.tasks.every((t) => t.resources.gpu === 0)).toBe(true);
    expect(await sched.redis.sismember(REDIS_KEYS.workers, 'w-run')).toBe(1);
    const ttl = await sched.redis.pttl(REDIS_KEYS.worker('w-run'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3000);
    const health = await fetch(`${worker.url}/health/ready`);
    expect(health.status).toBe(200);
  });

  it('runs a task, streams progress, then reports one terminal success', async () => {
    const p = await sched.enqueue('test.sleep', { ms: 1200 });
    const done = await sched.waitReport({ jobId: p.jobId, type: 'succeeded' }, 20_000, worker.logs);
    expect(done).toMatchObject({
      workerId: 'w-run',
      nodeId: 'a',
      attempt: 1,
      outputs: { sleptMs: expect.any(Number) },
      artifactIds: [],
    });
    const all = await sched.reports({ jobId: p.jobId });
    expect(all[0]).toMatchObject({ type: 'started', actorId: 'w-run/cpu0' });
    const progress = all.filter((r) => r.type === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(all.at(-1)!.type).toBe('succeeded'); // nothing after the terminal report
    expect(await sched.terminals(p.jobId)).toHaveLength(1);
    // BullMQ completed the job: retries are the scheduler's, not BullMQ's
    await waitFor(async () => (await sched.queue('cpu').getJobState(`${p.jobId}.a.1`)) === 'completed', {
      what: 'bullmq completed',
    });
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    expect(metrics).toMatch(
      /switchyard_worker_attempts_total\{[^}]*task="test.sleep",outcome="succeeded"[^}]*\} [1-9]/,
    );
    expect(metrics).toMatch(/switchyard_worker_actor_state\{[^}]*actor="w-run\/cpu0",state="IDLE"[^}]*\} 1/);
  });

  it('fails a failing task as retryable and bad input as not retryable', async () => {
    const failing = await sched.enqueue('test.fail', { times: 1 });
    const f = await sched.waitReport({ jobId: failing.jobId, type: 'failed' });
    expect(f).toMatchObject({ error: { code: 'TASK_FAILED', retryable: true } });
    const retried = await sched.enqueue('test.fail', { times: 1 }, { jobId: failing.jobId, attempt: 2 });
    expect(await sched.waitReport({ jobId: retried.jobId, attempt: 2, type: 'succeeded' })).toMatchObject({
      outputs: { attempt: 2 },
    });
    const bad = await sched.enqueue('test.sleep', { ms: -5 });
    expect(await sched.waitReport({ jobId: bad.jobId, type: 'failed' })).toMatchObject({
      error: { code: 'INVALID_INPUT', retryable: false },
    });
  });

  it('cancel stops a running task within seconds, and the actor keeps working', async () => {
    const p = await sched.enqueue('test.sleep', { ms: 30_000 });
    await sched.waitReport({ jobId: p.jobId, type: 'progress' });
    const t0 = Date.now();
    await sched.cancel(p.jobId);
    const failed = await sched.waitReport({ jobId: p.jobId, type: 'failed' }, 15_000, worker.logs);
    // not the task's 30 s: 10 s leaves a loaded CI machine room (3 s was tight for pub/sub, IPC and the report)
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(failed).toMatchObject({ error: { code: 'CANCELLED', retryable: false } });
    const next = await sched.enqueue('test.sleep', { ms: 100 });
    await sched.waitReport({ jobId: next.jobId, type: 'succeeded' });
  });

  it('kills a cancelled task that ignores its signal', async () => {
    const p = await sched.enqueue('test.hang', {});
    await sched.waitReport({ jobId: p.jobId, type: 'started' });
    await sched.cancel(p.jobId);
    expect(await sched.waitReport({ jobId: p.jobId, type: 'failed' }, 10_000)).toMatchObject({
      error: { code: 'CANCELLED' },
    });
    const next = await sched.enqueue('test.sleep', { ms: 100 });
    await sched.waitReport({ jobId: next.jobId, type: 'succeeded' }, 20_000, worker.logs);
  });

  it('skips an attempt of an already cancelled job', async () => {
    await sched.redis.set(`${REDIS_KEYS.job('gone')}:cancelled`, '1');
    const p = await sched.enqueue('test.sleep', { ms: 100 }, { jobId: 'gone' });
    expect(await sched.waitReport({ jobId: p.jobId, type: 'failed' })).toMatchObject({
      error: { code: 'CANCELLED', retryable: false },
    });
    expect((await sched.reports({ jobId: 'gone' })).map((r) => r.type)).toEqual(['failed']);
  });

  it('reports a runner that crashes mid-attempt as CRASHED and restarts it', async () => {
    const p = await sched.enqueue('test.crash', {});
    expect(await sched.waitReport({ jobId: p.jobId, type: 'failed' })).toMatchObject({
      error: { code: 'CRASHED', retryable: true },
    });
    const next = await sched.enqueue('test.sleep', { ms: 100 });
    await sched.waitReport({ jobId: next.jobId, type: 'succeeded' }, 20_000, worker.logs);
    const m = await sched.manifest('w-run');
    expect(m!.actors[0]!.restarts).toBeGreaterThanOrEqual(1);
  });

  it('kills an attempt whose BullMQ lock is lost; the stalled check runs it again, never twice at once', async () => {
    const p = await sched.enqueue('test.sleep', { ms: 4_000 });
    await sched.waitReport({ jobId: p.jobId, type: 'progress' }, 20_000, worker.logs);
    // another party took the lease (as after a long partition): the next renewal fails
    await sched.redis.del(`${BULLMQ_PREFIX}:sy-nodes-cpu:${p.jobId}.a.1:lock`);
    const lost = await sched.waitReport({ jobId: p.jobId, type: 'log' }, 10_000, worker.logs);
    expect(lost).toMatchObject({ level: 'warn', message: expect.stringMatching(/lost its lease/) });
    // no terminal report from the run that lost its lock; the re-run reports the only one
    const done = await sched.waitReport({ jobId: p.jobId, type: 'succeeded' }, 30_000, worker.logs);
    expect(done.attempt).toBe(1);
    expect(await sched.terminals(p.jobId)).toHaveLength(1);
    const started = await sched.reports({ jobId: p.jobId, type: 'started' });
    expect(started).toHaveLength(2);
    const lostAt = Date.parse(lost.at);
    expect(Date.parse(started[1]!.at)).toBeGreaterThanOrEqual(lostAt);
  });
});
