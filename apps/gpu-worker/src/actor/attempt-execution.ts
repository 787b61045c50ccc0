import { jobErrorMessage, type JobError, type JobErrorCode, type JsonObject } from '#libs/contracts';
import type { RunOrder } from '../runner/ipc-protocol.js';
import type { RunHandlers, RunOutcome } from '../runner/runner-process.js';

/** The slice of RunnerProcess an execution drives (tests may drive a real runner or their own). */
export interface AttemptRunner {
  run(order: RunOrder, handlers: RunHandlers): Promise<RunOutcome>;
  cancel(runId: string, code: JobErrorCode, reason: string): void;
  kill(): Promise<void>;
  readonly lastHeartbeatAt: number;
  readonly alive: boolean;
  /** The runner died of its heap limit (V8 said so on stderr). */
  readonly outOfMemory?: boolean;
}

export interface AttemptLimits {
  /** Start-to-close: the attempt's timeout. */
  timeoutMs: number;
  /** No heartbeat (nor any message) from the runner for this long = stuck. */
  heartbeatTimeoutMs: number;
  /** After a cancel or release, how long the task may take to honour ctx.signal before it is killed. */
  cancelGraceMs: number;
}

/**
 * When the runner was lost: 'attempt' when the attempt caused it (over time, stuck, ignored its cancel,
 * crashed or ran out of memory), 'platform' when we stopped it for our own reasons (lock lost, reports
 * undeliverable, drain).
 */
export type RunnerKilledBy = 'attempt' | 'platform';

interface OutcomeBase {
  runnerLost: boolean;
  killedBy?: RunnerKilledBy;
  /** The runner survived but must be replaced: the attempt left memory in it (why). */
  recycle?: string;
}

export type AttemptOutcome =
  | ({ type: 'succeeded'; outputs: JsonObject; artifactIds: string[] } & OutcomeBase)
  | ({ type: 'failed'; error: JobError } & OutcomeBase)
  | ({ type: 'released'; reason: string } & OutcomeBase);

type StopKind = 'stuck' | 'timeout' | 'cancel' | 'lock' | 'release' | 'reports';

/**
 * One attempt on a runner, supervised: heartbeat and start-to-close deadlines, cancellation, lost lock,
 * drain release. The first reason to stop decides the outcome; the runner is killed when the task cannot
 * be trusted to stop (stuck, over time, lock lost) or does not honour its signal within the grace.
 * Free of BullMQ and Redis: the actor wires those in.
 */
export class AttemptExecution {
  private stop?: { kind: StopKind; reason: string };
  private killing?: Promise<void>;
  private finished = false;
  private runnerOutcome?: RunOutcome;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly runner: AttemptRunner,
    private readonly order: RunOrder,
    private readonly handlers: RunHandlers,
    private readonly limits: AttemptLimits,
  ) {}

  async run(): Promise<AttemptOutcome> {
    const outcome = this.runner.run(this.order, this.handlers);
    const checkEvery = Math.max(50, Math.min(1000, Math.floor(this.limits.heartbeatTimeoutMs / 4)));
    this.timers.push(
      setInterval(() => {
        const silentFor = Date.now() - this.runner.lastHeartbeatAt;
        if (silentFor > this.limits.heartbeatTimeoutMs) {
          this.halt(
            'stuck',
            `no heartbeat from the runner for ${silentFor} ms (limit ${this.limits.heartbeatTimeoutMs} ms)`,
            'kill',
          );
        }
      }, checkEvery),
      setTimeout(
        () => this.halt('timeout', `ran longer than its timeout of ${this.limits.timeoutMs} ms`, 'kill'),
        this.limits.timeoutMs,
      ),
    );
    let out: RunOutcome;
    try {
      out = await outcome;
      this.runnerOutcome = out;
    } finally {
      this.finished = true;
      for (const t of this.timers) clearTimeout(t);
    }
    await this.killing;
    return this.classify(out);
  }

  /**
   * The runner may have made the attempt's scratch dir: it said so, or it did not answer (died, killed),
   * so nobody knows.
   */
  get scratchMayExist(): boolean {
    const out = this.runnerOutcome;
    return !out || out.kind === 'exit' || out.workDirUsed;
  }

  /** A CancelNotice for this attempt: the task gets its signal, and is killed if it ignores it. */
  cancel(reason: string): void {
    this.halt('cancel', reason, 'signal');
  }

  /** The worker is draining and the grace is over: stop the task and hand the node back. */
  release(reason: string): void {
    this.halt('release', reason, 'signal');
  }

  /** BullMQ lost this attempt's lock: another worker may run it now, so this one must stop at once. */
  loseLock(reason: string): void {
    this.halt('lock', reason, 'kill');
  }

  /** Reports of this attempt cannot be written: stop it, its result could not be delivered either. */
  failReports(reason: string): void {
    this.halt('reports', reason, 'kill');
  }

  private halt(kind: StopKind, reason: string, how: 'signal' | 'kill'): void {
    if (this.finished) return;
    this.stop ??= { kind, reason };
    if (how === 'kill') {
      this.killing ??= this.runner.kill();
      return;
    }
    this.runner.cancel(this.order.runId, 'CANCELLED', reason);
    this.timers.push(setTimeout(() => (this.killing ??= this.runner.kill()), this.limits.cancelGraceMs));
  }

  private classify(out: RunOutcome): AttemptOutcome {
    const outcome = this.classifyOutcome(out);
    if (!outcome.runnerLost)
      return out.kind !== 'exit' && out.recycle ? { ...outcome, recycle: out.recycle } : outcome;
    const kind = this.stop?.kind;
    const platform = kind === 'lock' || kind === 'reports' || kind === 'release';
    return { ...outcome, killedBy: platform ? 'platform' : 'attempt' };
  }

  private classifyOutcome(out: RunOutcome): AttemptOutcome {
    const runnerLost = !this.runner.alive;
    const failed = (code: JobErrorCode, message: string, retryable: boolean): AttemptOutcome => ({
      type: 'failed',
      error: { code, message: jobErrorMessage(message), retryable },
      runnerLost,
    });
    switch (this.stop?.kind) {
      case 'stuck':
        return failed('STUCK', this.stop.reason, true);
      case 'timeout':
        return failed('TIMEOUT', this.stop.reason, true);
      case 'lock':
        return failed('LOCK_LOST', this.stop.reason, true);
      case 'reports':
        return failed('CRASHED', `reports could not be written: ${this.stop.reason}`, true);
      case 'cancel':
        return failed('CANCELLED', `cancelled: ${this.stop.reason}`, false);
      case 'release':
        // Work that completed inside the window is kept; anything else goes back to the queue.
        return out.kind === 'result'
          ? { type: 'succeeded', outputs: out.outputs, artifactIds: out.artifactIds, runnerLost }
          : { type: 'released', reason: this.stop.reason, runnerLost };
      case undefined:
        break;
    }
    if (out.kind === 'result')
      return { type: 'succeeded', outputs: out.outputs, artifactIds: out.artifactIds, runnerLost };
    if (out.kind === 'error') return { type: 'failed', error: out.error, runnerLost };
    if (this.runner.outOfMemory)
      return failed(
        'CRASHED',
        `the attempt ran out of memory: the runner hit its heap limit and died (code ${out.code}, signal ${out.signal})`,
        true,
      );
    return failed(
      'CRASHED',
      `the runner process exited mid-attempt (code ${out.code}, signal ${out.signal})`,
      true,
    );
  }
}
