import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '#libs/local-stack';
import { childPids } from '../support/process-cpu.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) if (c.exitCode === null) c.kill('SIGKILL');
});

/**
 * The real gpu-worker (dist/apps/gpu-worker/src/main.js) as its own process, as `npm start` runs it: one
 * CPU actor with its warm runner, the test tasks on (test.sleep {ms: 0} is the no-op), its log (info, as
 * in production) in a temp file. `nodeArgs` are the worker's node flags (e.g. --cpu-prof); the runner it
 * forks does not get them.
 */
export class WorkerUnderTest {
  private constructor(
    private readonly proc: ChildProcess,
    readonly workerId: string,
    private readonly dir: string,
    readonly logFile: string,
  ) {}

  static async start(
    redisUrl: string,
    opts: { nodeArgs?: string[]; env?: Record<string, string> } = {},
  ): Promise<WorkerUnderTest> {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-worker-'));
    const port = await freePort();
    const logFile = join(dir, 'gpu-worker.log');
    const out = openSync(logFile, 'a');
    const workerId = `bench-gpu-worker-${process.pid}`;
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      NODE_ENV: 'development',
      REDIS_URL: redisUrl,
      SWITCHYARD_DATA_DIR: dir,
      SWITCHYARD_TEST_TASKS: '1',
      WORKER_ID: workerId,
      WORKER_HEALTH_PORT: String(port),
      WORKER_CPU_ACTORS: '1',
      WORKER_NVIDIA_SMI: '/nonexistent/nvidia-smi', // CPU only, whatever this machine has
      NODE_OPTIONS: '',
      ...opts.env,
    };
    const proc = spawn(
      process.execPath,
      [...(opts.nodeArgs ?? []), join(ROOT, 'dist/apps/gpu-worker/src/main.js')],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', out, out],
      },
    );
    closeSync(out);
    live.add(proc);
    const w = new WorkerUnderTest(proc, workerId, dir, logFile);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`the gpu-worker exited during start:\n${w.log()}`);
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null);
      if (res?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`the gpu-worker was not ready within 60 s:\n${w.log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return w;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The worker and its runner process(es). */
  pids(): number[] {
    return [this.pid, ...childPids(this.pid)];
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Log lines at warn level or above (pino: level ≥ 40): a run with any does not count. */
  warnings(): string[] {
    return this.log()
      .split('\n')
      .filter((l) => /"level":(4|5|6)\d/.test(l));
  }

  async stop(keepLog = false): Promise<void> {
    if (this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    live.delete(this.proc);
    if (!keepLog) rmSync(this.dir, { recursive: true, force: true });
  }
}
