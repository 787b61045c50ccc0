import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { AttemptExecution, type AttemptLimits } from '../actor/attempt-execution.js';
import { defaultRunnerEntry } from './runner-entry.js';
import { runOrder, type RunOrder } from './ipc-protocol.js';
import {
  RunnerBootError,
  RunnerProcess,
  type RunHandlers,
  type RunnerProcessOptions,
} from './runner-process.js';

// Real runner processes from the built entry (npm run build first), running the test tasks.
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const cpu = { index: 0, kind: 'CPU' as const, name: 'test cpu' };
// the runners' scratch dirs go under it (none of the test tasks makes one)
const workRoot = mkdtempSync(join(tmpdir(), 'sy-runner-process-'));

let redis: RedisHandle;
const runners: RunnerProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(runners.map((r) => r.kill()));
  await redis.stop();
  rmSync(workRoot, { recursive: true, force: true });
});

const settings: RunnerProcessOptions['settings'] = {
  logLevel: 'warn',
  heartbeatIntervalMs: 1_000,
  testTasks: true,
  commandTaskUser: { user: 'nobody', uidBase: 0 },
};

async function startRunner(
  cudaVisibleDevices = '',
  extraEnv: Record<string, string> = {},
  maxOldSpaceMb?: number,
  more: Partial<RunnerProcessOptions> = {},
): Promise<RunnerProcess> {
  const runner = await RunnerProcess.start({
    entry: defaultRunnerEntry(),
    actorId: 'test/cpu0',
    cudaVisibleDevices,
    device: cpu,
    workRoot,
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      ...extraEnv,
    },
    settings: { ...settings, heartbeatIntervalMs: 200 },
    bootTimeoutMs: 30_000,
    killGraceMs: 500,
    logger: quiet,
    ...(maxOldSpaceMb ? { maxOldSpaceMb } : {}),
    ...more,
  });
  runners.push(runner);
  return runner;
}

let seq = 0;
function runMessage(task: string, inputs: Record<string, unknown>): RunOrder {
  seq += 1;
  return runOrder(
    {
      type: 'run',
      attempt: { jobId: `job-${seq}`, nodeId: 'a', attempt: 1, tenant: 'acme' },
      task,
      taskVersion: '1.0.0',
      inputs: inputs as RunOrder['message']['inputs'],
    },
    { actorId: 'test/cpu0', workRoot },
  );
}

function recorder(): RunHandlers & { progressCalls: Array<[number, string?]>; logs: string[] } {
  const progressCalls: Array<[number, string?]> = [];
  const logs: string[] = [];
  return {
    progressCalls,
    logs,
    progress: (f, m) => progressCalls.push([f, m]),
    log: (level, m) => logs.push(`${level}: ${m}`),
    artifact: () => undefined,
  };
}

const limits: AttemptLimits = { timeoutMs: 20_000, heartbeatTimeoutMs: 1_500, cancelGraceMs: 1_000 };

describe('RunnerProcess', () => {
  it('boots, advertises the test tasks and sets CUDA_VISIBLE_DEVICES before any task loads', async () => {
    const runner = await startRunner('GPU-5c1f7a3e-9b2d-4e61-8f0a-2d7c3b9e1a44');
    expect(runner.tasks.map((t) => t.name)).toEqual(
      expect.arrayContaining(['test.sleep', 'test.busy', 'test.crash']),
    );
    const environ = readFileSync(`/proc/${runner.pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain('CUDA_VISIBLE_DEVICES=GPU-5c1f7a3e-9b2d-4e61-8f0a-2d7c3b9e1a44');
    await runner.kill();
    expect(runner.alive).toBe(false);
  });

  it('reports a boot failure as RunnerBootError', async () => {
    await expect(
      RunnerProcess.start({
        entry: '/nonexistent/runner-main.js',
        actorId: 'x',
        cudaVisibleDevices: '',
        device: cpu,
        workRoot,
        env: process.env,
        settings,
        bootTimeoutMs: 10_000,
        killGraceMs: 100,
        logger: quiet,
      }),
    ).rejects.toBeInstanceOf(RunnerBootError);
  });

  it('a runner is told its device once, in its settings: every attempt sees it, a new runner gets it again', async () => {
    // gpu.probe names the device it was told when that is no GPU
    const probe = async (runner: RunnerProcess) =>
      new AttemptExecution(runner, runMessage('gpu.probe', {}), recorder(), limits).run();
    const first = await startRunner('', {}, undefined, { device: { index: 7, kind: 'CPU', name: 'seven' } });
    for (let i = 0; i < 2; i++)
      expect(await probe(first)).toMatchObject({
        type: 'failed',
        error: { code: 'TASK_FAILED', message: 'gpu.probe ran on CPU 7: no GPU' },
      });
    await first.kill();
    // a restarted runner (RunnerSlot starts it from the same options) is told again; another device reaches its task
    const next = await startRunner('', {}, undefined, { device: { index: 3, kind: 'CPU', name: 'three' } });
    expect(await probe(next)).toMatchObject({ error: { message: 'gpu.probe ran on CPU 3: no GPU' } });
  });

  it('a runner without a device (or work root) in its settings does not boot, and says why', async () => {
    const start = (more: Partial<RunnerProcessOptions>) =>
      RunnerProcess.start({
        entry: defaultRunnerEntry(),
        actorId: 'test/cpu0',
        cudaVisibleDevices: '',
        device: cpu,
        workRoot,
        env: process.env,
        settings,
        bootTimeoutMs: 30_000,
        killGraceMs: 500,
        logger: quiet,
        ...more,
      });
    await expect(start({ device: undefined as never })).rejects.toThrow(/RunnerSettings.*device/s);
    await expect(start({ workRoot: '' })).rejects.toThrow(/RunnerSettings.*workRoot/s);
  });

  it('runs a task, streams progress, stays warm for the next attempt', async () => {
    const runner = await startRunner();
    const h = recorder();
    const outcome = await new AttemptExecution(
      runner,
      runMessage('test.sleep', { ms: 300 }),
      h,
      limits,
    ).run();
    expect(outcome).toMatchObject({
      type: 'succeeded',
      outputs: { sleptMs: expect.any(Number) },
      artifactIds: [],
      runnerLost: false,
    });
    expect(h.progressCalls.length).toBeGreaterThanOrEqual(3);
    expect(h.progressCalls.at(-1)![0]).toBe(1);
    const again = await new AttemptExecution(
      runner,
      runMessage('test.fail', { times: 0 }),
      recorder(),
      limits,
    ).run();
    expect(again).toMatchObject({ type: 'succeeded', outputs: { attempt: 1 } });
    expect(runner.alive).toBe(true);
  });

  it('fails bad input (not retryable) and unknown tasks (retryable elsewhere) without losing the runner', async () => {
    const runner = await startRunner();
    const bad = await new AttemptExecution(
      runner,
      runMessage('test.sleep', { ms: 'long' }),
      recorder(),
      limits,
    ).run();
    expect(bad).toMatchObject({
      type: 'failed',
      error: { code: 'INVALID_INPUT', retryable: false },
      runnerLost: false,
    });
    const unknown = await new AttemptExecution(
      runner,
      runMessage('image.nope', {}),
      recorder(),
      limits,
    ).run();
    expect(unknown).toMatchObject({
      type: 'failed',
      error: { code: 'UNSCHEDULABLE', retryable: true },
      runnerLost: false,
    });
    const failing = await new AttemptExecution(
      runner,
      runMessage('test.fail', { times: 1 }),
      recorder(),
      limits,
    ).run();
    expect(failing).toMatchObject({ type: 'failed', error: { code: 'TASK_FAILED', retryable: true } });
    expect(runner.alive).toBe(true);
  });

  it('kills a busy-looping task as STUCK (heartbeats stop) and loses the runner', async () => {
    const runner = await startRunner();
    const t0 = Date.now();
    const outcome = await new AttemptExecution(runner, runMessage('test.busy', {}), recorder(), limits).run();
    expect(outcome).toMatchObject({
      type: 'failed',
      error: { code: 'STUCK', retryable: true },
      runnerLost: true,
      killedBy: 'attempt',
    });
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(runner.alive).toBe(false);
  });

  it('kills a task over its start-to-close timeout as TIMEOUT', async () => {
    const runner = await startRunner();
    const outcome = await new AttemptExecution(runner, runMessage('test.hang', {}), recorder(), {
      ...limits,
      timeoutMs: 700,
    }).run();
    expect(outcome).toMatchObject({
      type: 'failed',
      error: { code: 'TIMEOUT', retryable: true },
      runnerLost: true,
      killedBy: 'attempt',
    });
  });

  it('reports a runner that exits mid-attempt as CRASHED', async () => {
    const runner = await startRunner();
    const h = recorder();
    const outcome = await new AttemptExecution(
      runner,
      runMessage('test.crash', { exitCode: 3 }),
      h,
      limits,
    ).run();
    expect(outcome).toMatchObject({
      type: 'failed',
      error: { code: 'CRASHED', retryable: true },
      runnerLost: true,
      killedBy: 'attempt',
    });
    expect((outcome as { error: { message: string } }).error.message).toMatch(/code 3/);
    expect(h.logs).toContain('warn: test.crash: exiting the runner process on purpose');
  });

  it('cancels: a task honouring its signal stops at once and the runner stays warm', async () => {
    const runner = await startRunner();
    // A grace far above the bound below: a task that did not stop at its signal would take 10 s (killed), or
    // 20 s (slept on); one that stops answers in milliseconds, still well within 5 s on a loaded CI machine.
    const patient = { ...limits, cancelGraceMs: 10_000 };
    const exec = new AttemptExecution(runner, runMessage('test.sleep', { ms: 20_000 }), recorder(), patient);
    const done = exec.run();
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    exec.cancel('cancelJob by a client');
    const outcome = await done;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(outcome).toMatchObject({
      type: 'failed',
      error: { code: 'CANCELLED', retryable: false },
      runnerLost: false,
    });
  });

  it('cancels: a task ignoring its signal is killed after the grace', async () => {
    const runner = await startRunner();
    const exec = new AttemptExecution(runner, runMessage('test.hang', {}), recorder(), limits);
    const done = exec.run();
    await new Promise((r) => setTimeout(r, 200));
    exec.cancel('cancelJob');
    const outcome = await done;
    expect(outcome).toMatchObject({
      type: 'failed',
      error: { code: 'CANCELLED' },
      runnerLost: true,
      killedBy: 'attempt',
    });
  });

  it('releases on drain unless the result came first', async () => {
    const runner = await startRunner();
    const exec = new AttemptExecution(runner, runMessage('test.sleep', { ms: 20_000 }), recorder(), limits);
    const done = exec.run();
    await new Promise((r) => setTimeout(r, 200));
    exec.release('worker draining');
    expect(await done).toEqual({ type: 'released', reason: 'worker draining', runnerLost: false });
  });

  it('kills at once when the lock is lost', async () => {
    const runner = await startRunner();
    const exec = new AttemptExecution(runner, runMessage('test.sleep', { ms: 20_000 }), recorder(), limits);
    const done = exec.run();
    await new Promise((r) => setTimeout(r, 200));
    exec.loseLock('lock renewal failed');
    expect(await done).toMatchObject({
      type: 'failed',
      error: { code: 'LOCK_LOST', retryable: true },
      runnerLost: true,
      killedBy: 'platform',
    });
  });

  it('caps the runner heap: an attempt that allocates without bound dies alone, reported as out of memory', async () => {
    const runner = await startRunner('', {}, 64);
    const outcome = await new AttemptExecution(runner, runMessage('test.oom', {}), recorder(), limits).run();
    expect(outcome).toMatchObject({
      type: 'failed',
      error: { code: 'CRASHED', retryable: true, message: expect.stringMatching(/ran out of memory/) },
      runnerLost: true,
      killedBy: 'attempt',
    });
  });
  describe('runs handed over together (a lease)', () => {
    const execute = (runner: RunnerProcess, msg: RunOrder, h = recorder(), l = limits) =>
      new AttemptExecution(runner, msg, h, l).run();

    it('runs them in order, one at a time; each is claimed with its outcome and what it reported', async () => {
      const runner = await startRunner();
      const msgs = [
        runMessage('test.sleep', { ms: 0 }),
        runMessage('test.sleep', { ms: 150 }),
        runMessage('test.fail', { times: 1 }),
      ];
      runner.enqueue(msgs);
      expect(msgs.every((m) => runner.holds(m.runId))).toBe(true);
      expect(() => runner.run(runMessage('test.sleep', { ms: 0 }), recorder())).toThrow(/already running/);
      await new Promise((r) => setTimeout(r, 400)); // all three end before any is claimed
      const h = recorder();
      expect(await execute(runner, msgs[0]!)).toMatchObject({ type: 'succeeded' });
      expect(await execute(runner, msgs[1]!, h)).toMatchObject({
        type: 'succeeded',
        outputs: { sleptMs: expect.any(Number) },
      });
      expect(h.progressCalls.at(-1)![0]).toBe(1); // reported before the claim, replayed to it
      expect(await execute(runner, msgs[2]!)).toMatchObject({
        type: 'failed',
        error: { code: 'TASK_FAILED' },
      });
      expect(runner.unclaimedRunIds).toEqual([]);
      expect(runner.busy).toBe(false);
      // idle again: a single run goes as before
      expect(await execute(runner, runMessage('test.sleep', { ms: 0 }))).toMatchObject({ type: 'succeeded' });
    });

    it('withdraws the runs not started; a cancelled queued run ends CANCELLED without running', async () => {
      const runner = await startRunner();
      const msgs = [
        runMessage('test.sleep', { ms: 300 }),
        runMessage('test.sleep', { ms: 0 }),
        runMessage('test.sleep', { ms: 0 }),
        runMessage('test.sleep', { ms: 0 }),
      ];
      runner.enqueue(msgs);
      runner.cancel(msgs[1]!.runId, 'CANCELLED', 'cancelled by request');
      expect(await runner.withdraw([msgs[0]!.runId, msgs[3]!.runId])).toEqual([msgs[3]!.runId]);
      expect(runner.holds(msgs[3]!.runId)).toBe(false);
      const h = recorder();
      expect(await execute(runner, msgs[0]!)).toMatchObject({ type: 'succeeded' });
      expect(await execute(runner, msgs[1]!, h)).toMatchObject({
        type: 'failed',
        error: { code: 'CANCELLED', message: 'cancelled by request', retryable: false },
      });
      expect(h.progressCalls).toEqual([]); // it never ran
      expect(await execute(runner, msgs[2]!)).toMatchObject({ type: 'succeeded' });
      expect(runner.busy).toBe(false);
    });

    it('a queued run a cancel dropped unstarted can be taken instead of claimed; a started one cannot', async () => {
      const runner = await startRunner();
      const msgs = [runMessage('test.sleep', { ms: 300 }), runMessage('test.sleep', { ms: 0 })];
      runner.enqueue(msgs);
      runner.cancel(msgs[1]!.runId, 'CANCELLED', 'cancelled by request');
      runner.cancel(msgs[0]!.runId, 'CANCELLED', 'cancelled by request');
      // the runner answers in order: once a later withdrawal is answered, both cancels were too
      await runner.withdraw([msgs[1]!.runId]);
      expect(runner.takeCancelledUnstarted(msgs[0]!.runId)).toBe(false); // it had started: claim it
      expect(runner.takeCancelledUnstarted(msgs[1]!.runId)).toBe(true);
      expect(runner.holds(msgs[1]!.runId)).toBe(false);
      expect(runner.takeCancelledUnstarted(msgs[1]!.runId)).toBe(false); // taken once
      expect(await execute(runner, msgs[0]!)).toMatchObject({ type: 'failed', error: { code: 'CANCELLED' } });
      expect(runner.unclaimedRunIds).toEqual([]);
      expect(runner.busy).toBe(false);
    });

    it('forgets the runs that ended unclaimed, keeps one still in the runner', async () => {
      const runner = await startRunner();
      runner.enqueue([runMessage('test.sleep', { ms: 0 }), runMessage('test.sleep', { ms: 0 })]);
      await waitFor(() => !runner.busy, { timeoutMs: 5_000, what: 'both runs to end' });
      const running = runMessage('test.sleep', { ms: 300 });
      runner.enqueue([running]);
      expect(runner.unclaimedRunIds).toHaveLength(3);
      runner.forgetEnded();
      expect(runner.unclaimedRunIds).toEqual([running.runId]);
      expect(await execute(runner, running)).toMatchObject({ type: 'succeeded' });
    });

    it('a runner whose event loop is blocked does not answer a withdrawal: it gives up, the watchdog kills', async () => {
      const runner = await startRunner('', {}, undefined, { withdrawAnswerMs: 500 });
      const msgs = [runMessage('test.busy', {}), runMessage('test.sleep', { ms: 0 })];
      runner.enqueue(msgs);
      await new Promise((r) => setTimeout(r, 300)); // the busy loop has the runner
      expect(await runner.withdraw([msgs[1]!.runId])).toEqual([]);
      expect(runner.holds(msgs[1]!.runId)).toBe(true); // still the runner's as far as anyone knows
      expect(await execute(runner, msgs[0]!)).toMatchObject({
        type: 'failed',
        error: { code: 'STUCK' },
        runnerLost: true,
      });
      expect(runner.holds(msgs[1]!.runId)).toBe(false); // never started: dropped with the runner
    });

    it('a run that leaves tensors in the runner asks for a new runner; the runs queued after it come back unstarted', async () => {
      const runner = await startRunner();
      // tfjs loaded, nothing left: the runner stays. Loading tfjs blocks the runner's loop: on a loaded CI machine
      // longer than the spec's 1.5 s heartbeat bound (STUCK), so this run gets the worker's default, 10 s.
      const clean = await execute(runner, runMessage('test.retain-tensors', { floats: 0 }), recorder(), {
        ...limits,
        heartbeatTimeoutMs: 10_000,
      });
      expect(clean).toMatchObject({ type: 'succeeded', outputs: { tensors: 0 } });
      expect(clean).not.toHaveProperty('recycle');
      const msgs = [
        runMessage('test.retain-tensors', { floats: 1000 }),
        runMessage('test.sleep', { ms: 0 }),
        runMessage('test.sleep', { ms: 0 }),
      ];
      runner.enqueue(msgs);
      await waitFor(() => !runner.busy, { timeoutMs: 10_000, what: 'the leaking run to end' });
      // never started: the lease runs them on the next runner
      expect(runner.holds(msgs[1]!.runId)).toBe(false);
      expect(runner.holds(msgs[2]!.runId)).toBe(false);
      expect(await execute(runner, msgs[0]!)).toMatchObject({
        type: 'succeeded',
        runnerLost: false,
        recycle: expect.stringMatching(/left 1 tensors \(4000 bytes\)/),
      });
      expect(runner.alive).toBe(true); // the actor replaces it (processAttempt)
      // anything handed to it anyway is refused unstarted, not run next to the leak
      expect(await execute(runner, runMessage('test.sleep', { ms: 0 }))).toMatchObject({
        type: 'failed',
        error: {
          code: 'CRASHED',
          message: expect.stringMatching(/runner is being replaced/),
          retryable: true,
        },
      });
    });

    it('a runner dying mid-run ends that run as its crash; the queued ones are dropped, not failed', async () => {
      const runner = await startRunner();
      const msgs = [
        runMessage('test.sleep', { ms: 0 }),
        runMessage('test.crash', { exitCode: 3 }),
        runMessage('test.sleep', { ms: 0 }),
      ];
      runner.enqueue(msgs);
      await new Promise<void>((r) => runner.onExit(() => r()));
      expect(runner.diedRunning).toBe(true);
      expect(runner.holds(msgs[2]!.runId)).toBe(false); // never started: the lease runs it elsewhere
      expect(await execute(runner, msgs[0]!)).toMatchObject({ type: 'succeeded' });
      const h = recorder();
      expect(await execute(runner, msgs[1]!, h)).toMatchObject({
        type: 'failed',
        error: { code: 'CRASHED', message: expect.stringMatching(/code 3/) },
        runnerLost: true,
        killedBy: 'attempt',
      });
      expect(h.logs).toContain('warn: test.crash: exiting the runner process on purpose');
    });
  });
});
