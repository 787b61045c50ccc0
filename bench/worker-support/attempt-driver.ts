import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { attemptJobId, BULLMQ_PREFIX } from '#libs/contracts';
import { cpuOf } from '../support/process-cpu.js';
import type { ReportWatcher } from './report-watcher.js';
import { benchAttemptPayload } from '../support/attempt-payload.js';

/** The same retention the scheduler's BullmqEnqueuer asks for. */
const RETENTION = {
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
};

export interface RunResult {
  attempts: number;
  elapsedMs: number;
  latenciesMs: number[];
  /** CPU (user + system) of the measured processes over the run, ms. */
  cpuMs: number;
  /** The same, per measured process (in the order `pids()` gave them). */
  cpuMsByProcess: number[];
}

let seq = 0;

/**
 * Enqueues no-op attempts (test.sleep {ms: 0}, shaped as the scheduler enqueues them) on one queue and times
 * each from just before its add to the moment its terminal report is seen on {sy}:reports.
 */
export class AttemptDriver {
  private readonly queue: Queue;

  constructor(
    connection: Redis,
    queueName: string,
    private readonly watcher: ReportWatcher,
    private readonly timeoutMs: number,
  ) {
    this.queue = new Queue(queueName, { connection, prefix: BULLMQ_PREFIX });
  }

  /** One attempt, enqueue → terminal report, ms. */
  async one(): Promise<number> {
    const payload = benchAttemptPayload(`bench-${process.pid}-${++seq}`, 'test.sleep', { ms: 0 });
    const from = performance.now();
    const done = this.watcher.wait(payload.jobId, this.timeoutMs);
    await this.queue.add(payload.task, payload, {
      jobId: attemptJobId(payload.jobId, payload.nodeId, payload.attempt),
      attempts: 1,
      ...RETENTION,
    });
    const type = await done;
    if (type !== 'succeeded') throw new Error(`attempt ${payload.jobId} ended ${type}`);
    return performance.now() - from;
  }

  /** `n` attempts with `inflight` of them enqueued at any time; CPU of `pids()` read around the run. */
  async run(n: number, inflight: number, pids: () => number[]): Promise<RunResult> {
    const measured = pids();
    const cpuBefore = measured.map((p) => cpuOf([p]));
    const started = performance.now();
    const latenciesMs: number[] = [];
    let next = 0;
    const lane = async () => {
      while (next < n) {
        next++;
        latenciesMs.push(await this.one());
      }
    };
    await Promise.all(Array.from({ length: Math.min(inflight, n) }, lane));
    const elapsedMs = performance.now() - started;
    const cpuMsByProcess = measured.map((p, i) => cpuOf([p]) - cpuBefore[i]!);
    return {
      attempts: n,
      elapsedMs,
      latenciesMs,
      cpuMs: cpuMsByProcess.reduce((a, b) => a + b, 0),
      cpuMsByProcess,
    };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
