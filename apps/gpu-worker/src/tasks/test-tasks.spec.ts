import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  createLocalTaskContext,
  runTask,
  TaskCatalog,
  TaskError,
  type LocalTaskContext,
} from '#libs/task-sdk';
import { builtInTasks, loadTasks } from './index.js';
import { bundleRunTaskChild } from './test/bundle-child.js';
import { testFail, testHang, testSleep } from './test-tasks.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'test-tasks-'))));
afterEach(() => rm(dir, { recursive: true, force: true }));

const ctxFor = (opts: { attempt?: number; signal?: AbortSignal } = {}): Promise<LocalTaskContext> =>
  createLocalTaskContext({
    rootDir: dir,
    ...(opts.attempt ? { attempt: { attempt: opts.attempt } } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });

describe('loadTasks', () => {
  it('offers the built-in tasks, and the test tasks only when asked', () => {
    const names = (testTasks: boolean) =>
      new TaskCatalog(loadTasks({ testTasks })).manifests().map((m) => m.name);
    expect(names(false)).toEqual(['gpu.probe', 'image.resize', 'model.evaluate', 'model.train']);
    expect(names(true)).toEqual([
      'gpu.probe',
      'image.resize',
      'model.evaluate',
      'model.train',
      'test.busy',
      'test.crash',
      'test.fail',
      'test.hang',
      'test.oom',
      'test.retain-tensors',
      'test.sleep',
    ]);
    expect(builtInTasks.every((t) => t.manifest().version === '1.0.0')).toBe(true);
  });
});

describe('test tasks in process', () => {
  it('test.sleep sleeps with progress', async () => {
    const ctx = await ctxFor();
    const out = await runTask(testSleep, { ms: 200 }, ctx);
    expect(out.sleptMs).toBeGreaterThanOrEqual(200);
    expect(ctx.progressUpdates.length).toBeGreaterThanOrEqual(5);
    expect(ctx.progressUpdates.at(-1)!.fraction).toBe(1);
  });

  it('test.sleep stops promptly when cancelled', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const p = runTask(testSleep, { ms: 60_000 }, await ctxFor({ signal: ac.signal })).catch(
      (e: unknown) => e,
    );
    setTimeout(() => ac.abort('cancelled'), 100);
    expect(await p).toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('test.fail fails its first `times` attempts, retryable, then succeeds', async () => {
    for (const attempt of [1, 2]) {
      const e = await runTask(testFail, { times: 2 }, await ctxFor({ attempt })).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TaskError);
      expect(e).toMatchObject({ code: 'TASK_FAILED', retryable: true });
    }
    expect(await runTask(testFail, { times: 2 }, await ctxFor({ attempt: 3 }))).toEqual({ attempt: 3 });
  });

  it('test.hang never settles, even when its signal aborts', async () => {
    const ac = new AbortController();
    let settled = false;
    void runTask(testHang, {}, await ctxFor({ signal: ac.signal }))
      .finally(() => (settled = true))
      .catch(() => {});
    ac.abort('cancelled');
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
  });
});

describe('test tasks that take their process down (run in a child)', () => {
  let child: string;
  beforeAll(async () => (child = await bundleRunTaskChild()), 30_000);
  afterAll(() => rm(dirname(child), { recursive: true, force: true }));

  /**
   * Runs `task` in a child and SIGKILLs it `watchMs` after it reported `started` (not after spawn: loading the
   * task catalog takes seconds on a loaded machine), or after 60 s if it never starts.
   */
  function runChild(task: string, input: unknown, watchMs: number) {
    const proc = spawn(process.execPath, [child, task, '1.0.0', JSON.stringify(input), dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: { at: number; msg: Record<string, unknown> }[] = [];
    let timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      const line = { at: Date.now(), msg: JSON.parse(l) as Record<string, unknown> };
      lines.push(line);
      if ('started' in line.msg) {
        clearTimeout(timer);
        timer = setTimeout(() => proc.kill('SIGKILL'), watchMs);
      }
    });
    return new Promise<{ code: number | null; signal: NodeJS.Signals | null; lines: typeof lines }>(
      (resolve) => {
        proc.once('exit', (code, signal) => {
          clearTimeout(timer);
          setImmediate(() => resolve({ code, signal, lines }));
        });
      },
    );
  }

  it('test.busy blocks the event loop: no heartbeat after it starts', async () => {
    const { signal, lines } = await runChild('test.busy', {}, 1500);
    expect(signal).toBe('SIGKILL'); // it never finished on its own
    const startedAt = lines.find((l) => 'started' in l.msg)!.at;
    expect(lines.filter((l) => 'beat' in l.msg && l.at > startedAt + 100)).toEqual([]);
  });

  it('test.crash exits its process mid-attempt, without a result', async () => {
    const { code, lines } = await runChild('test.crash', {}, 10_000);
    expect(code).toBe(70);
    expect(lines.some((l) => 'result' in l.msg || 'error' in l.msg)).toBe(false);
  });

  it('a well-behaved task in the same harness reports its result (the harness itself works)', async () => {
    const { code, lines } = await runChild('test.sleep', { ms: 300 }, 10_000);
    expect(code).toBe(0);
    expect(lines.filter((l) => 'beat' in l.msg).length).toBeGreaterThanOrEqual(3);
    expect(lines.at(-1)!.msg).toMatchObject({ result: { sleptMs: expect.any(Number) } });
  });
});
