import { fork, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processCpuMs } from '../support/process-cpu.js';
import type { RunResult } from './attempt-driver.js';

const HERE = resolve(fileURLToPath(new URL('.', import.meta.url)));

/**
 * The bare IPC peer: a forked child that answers each run message at once. A round trip sends a message
 * shaped like the runner's `run` (same size) and waits for the `result`, one at a time.
 */
export class IpcRoundTrip {
  private waiting?: (m: unknown) => void;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m) => this.waiting?.(m));
  }

  static async start(): Promise<IpcRoundTrip> {
    const child = fork(join(HERE, 'ipc-echo-child.js'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    process.once('exit', () => child.kill('SIGKILL'));
    await new Promise<void>((r) => child.once('message', () => r()));
    return new IpcRoundTrip(child);
  }

  private roundTrip(i: number): Promise<number> {
    const from = performance.now();
    return new Promise((resolve) => {
      this.waiting = () => resolve(performance.now() - from);
      this.child.send({
        type: 'run',
        runId: `bench-${i}.only.1`,
        attempt: { jobId: `bench-${i}`, nodeId: 'only', attempt: 1, tenant: 'bench' },
        task: 'test.sleep',
        taskVersion: '1.0.0',
        inputs: { ms: 0 },
        device: { index: 0, kind: 'CPU', name: 'CPU 0' },
        workDir: `/tmp/switchyard-bench/cpu0/bench-${i}.only.1`,
      });
    });
  }

  /** `n` round trips one at a time; CPU of both ends (this process's share is read with cpuUsage). */
  async run(n: number): Promise<RunResult> {
    const parentBefore = process.cpuUsage();
    const childBefore = processCpuMs(this.child.pid!);
    const started = performance.now();
    const latenciesMs: number[] = [];
    for (let i = 0; i < n; i++) latenciesMs.push(await this.roundTrip(i));
    const elapsedMs = performance.now() - started;
    const parent = process.cpuUsage(parentBefore);
    const cpuMsByProcess = [
      (parent.user + parent.system) / 1000,
      processCpuMs(this.child.pid!) - childBefore,
    ];
    return {
      attempts: n,
      elapsedMs,
      latenciesMs,
      cpuMs: cpuMsByProcess[0]! + cpuMsByProcess[1]!,
      cpuMsByProcess,
    };
  }

  stop(): void {
    this.child.disconnect();
  }
}
