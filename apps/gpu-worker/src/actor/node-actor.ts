import { Worker, UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ArtifactRepository } from '#libs/storage';
import {
  cancelledJobKey,
  NODE_QUEUES,
  NodeAttemptPayload,
  parseContract,
  type ActorInfo,
  type ActorState,
  type CancelNotice,
  type TaskManifest,
} from '#libs/contracts';
import type { RunnerLogger, RunnerProcessOptions } from '../runner/runner-process.js';
import type { ActorSpec } from '../supervisor/actor-plan.js';
import type { RestartPolicy, SupervisedActor } from '../supervisor/supervisor.js';
import { queueWaitMs, type WorkerMetrics } from '../worker-metrics.js';
import type { AttemptExecution, AttemptOutcome } from './attempt-execution.js';
import { AttemptReporter } from './attempt-reporter.js';
import { runAttempt } from './attempt-run.js';
import { FetchWatchdog } from './fetch-watchdog.js';
import { payloadRef } from './node-payload.js';
import { ReportUndeliverableError, type ReportSink } from './report-sink.js';
import { retryWithin, within } from './retry.js';
import { RunnerSlot, type SlotState } from './runner-slot.js';
import type { TenantGuard } from './tenant-guard.js';

export interface ActorLogger extends RunnerLogger {
  debug(obj: object, msg: string): void;
}

export interface NodeActorOptions {
  spec: ActorSpec;
  workerId: string;
  decideRestart: RestartPolicy;
  /** The actor left quarantine (its probe succeeded): the supervisor forgets its restarts. */
  onRecovered: () => void;
  /** Called on every change the manifest shows (state, restarts, current attempt). */
  onChange: () => void;
  /** Called with the task manifests each time a runner becomes ready. */
  onRunnerReady: (tasks: TaskManifest[]) => void;
  /** Shared command connection: cancelled-job checks. */
  redis: Redis;
  /** A fresh connection for each BullMQ Worker this actor creates (the watchdog may recreate it). */
  createWorkerConnection: () => Redis;
  closeConnection: (r: Redis) => Promise<void>;
  /** The queue of this actor's class, for the fetch watchdog's waiting count. */
  queue: Queue;
  reports: ReportSink;
  /** Artifact storage, used for the runner (which has no credentials) on behalf of its attempt. */
  artifacts: ArtifactRepository;
  runner: Omit<RunnerProcessOptions, 'actorId' | 'cudaVisibleDevices' | 'slot'>;
  workRoot: string;
  heartbeatTimeoutMs: number;
  cancelGraceMs: number;
  /** Window in which Redis reads of the attempt's start (cancelled check) are retried. */
  redisRetryWindowMs: number;
  restartBackoff: { baseMs: number; maxMs: number };
  quarantineCooldownMs: number;
  /** Counts runner kills per tenant and fails a throttled tenant's attempts fast. */
  tenants: TenantGuard;
  bullmq: { lockDurationMs: number; stalledIntervalMs: number; closeTimeoutMs: number };
  watchdog: { intervalMs: number; stallMs: number };
  logger: ActorLogger;
  metrics: WorkerMetrics;
}

/** How long a forced BullMQ close, and closing its connection, may take before they are left behind. */
const FORCED_CLOSE_MS = 1_000;

interface ActiveAttempt {
  bullJobId: string;
  jobId: string;
  nodeId: string;
  execution?: AttemptExecution;
}

/**
 * One actor: one BullMQ Worker (concurrency 1) on its class's queue and one warm runner process on its
 * device. The processor reports exactly one terminal NodeReport per attempt and returns normally, so
 * BullMQ completes the job; retries are the scheduler's.
 */
export class NodeActor implements SupervisedActor {
  private state: ActorState = 'STOPPED';
  private readonly slot: RunnerSlot;
  private worker?: Worker;
  private workerConnection?: Redis;
  private closingWorker?: Promise<void>;
  private active?: ActiveAttempt;
  private draining = false;
  private readonly watchdog: FetchWatchdog;

  constructor(private readonly o: NodeActorOptions) {
    this.slot = new RunnerSlot({
      actorId: o.spec.id,
      runner: {
        ...o.runner,
        actorId: o.spec.id,
        cudaVisibleDevices: o.spec.cudaVisibleDevices,
        slot: o.spec.slot,
      },
      decideRestart: o.decideRestart,
      onRecovered: o.onRecovered,
      onRunnerReady: o.onRunnerReady,
      onState: (s) => this.onSlotState(s),
      isBusy: () => this.active !== undefined,
      restartBackoff: o.restartBackoff,
      quarantineCooldownMs: o.quarantineCooldownMs,
      logger: o.logger,
      metrics: o.metrics,
    });
    this.watchdog = new FetchWatchdog({
      actorId: o.spec.id,
      queue: o.queue,
      ...o.watchdog,
      isIdle: () => !this.draining && !this.quarantined && this.state === 'IDLE' && !!this.worker,
      recreate: async () => {
        await this.closeWorker(this.o.bullmq.closeTimeoutMs, 'recreate');
        if (!this.draining && !this.quarantined) this.createWorker();
      },
      logger: o.logger,
      metrics: o.metrics,
    });
  }

  private get quarantined(): boolean {
    return this.slot.quarantined !== undefined;
  }

  get id(): string {
    return this.o.spec.id;
  }

  info(): ActorInfo {
    return {
      id: this.id,
      device: this.o.spec.label,
      resourceClass: this.o.spec.resourceClass,
      state: this.state,
      restarts: this.slot.restarts,
      ...(this.active ? { jobId: this.active.jobId, nodeId: this.active.nodeId } : {}),
      ...(this.slot.quarantined ? { quarantine: { ...this.slot.quarantined } } : {}),
    };
  }

  async start(): Promise<void> {
    this.setState('RESTARTING');
    await this.slot.start();
    this.watchdog.start();
    if (this.quarantined || this.draining) return;
    this.setState('IDLE');
    this.createWorker();
  }

  /** The runner slot changed: mirror it in the actor's state and start or stop leasing. */
  private onSlotState(s: SlotState): void {
    if (this.draining) return;
    if (s === 'RESTARTING') return this.setState('RESTARTING');
    if (s === 'QUARANTINED') {
      this.setState('QUARANTINED');
      if (!this.active) void this.closeWorker(this.o.bullmq.closeTimeoutMs, 'quarantine');
      return;
    }
    // READY: back from a restart, or from quarantine (then leasing starts again).
    if (this.state === 'QUARANTINED') {
      this.state = 'IDLE';
      this.o.metrics.actorState(this.id, 'IDLE');
      this.o.onChange();
      if (!this.worker || this.closingWorker) void this.reopenWorker();
      return;
    }
    if (this.state === 'STOPPED') return; // first boot: start() sets IDLE and creates the worker
    this.setState(this.active ? 'BUSY' : 'IDLE');
  }

  private async reopenWorker(): Promise<void> {
    await this.closingWorker;
    if (!this.draining && !this.quarantined) this.createWorker();
  }

  /** A CancelNotice: stop the running attempt if it belongs to the cancelled job (and node). */
  cancel(notice: CancelNotice): void {
    const a = this.active;
    if (!a || a.jobId !== notice.jobId || (notice.nodeId && notice.nodeId !== a.nodeId)) return;
    this.o.logger.info(
      { actor: this.id, jobId: a.jobId, nodeId: a.nodeId, reason: notice.reason },
      'cancelling the running attempt',
    );
    a.execution?.cancel(notice.reason);
  }

  async drain(graceMs: number, boundMs: number): Promise<void> {
    this.draining = true;
    this.watchdog.stop();
    const release = setTimeout(
      () => this.active?.execution?.release(`worker draining: grace of ${graceMs} ms is over`),
      graceMs,
    );
    // close() stops leasing at once and waits for the running attempt, which the timer above bounds; what
    // stays is its last report, which an unreachable Redis may hold up: bounded too, leaving time to kill
    // the runner.
    const killMs = this.o.runner.killGraceMs + FORCED_CLOSE_MS;
    const closeMs = Math.max(0, boundMs - killMs - 2 * FORCED_CLOSE_MS);
    // A close already under way (watchdog, quarantine) may have a longer bound of its own: cap it here.
    if ((await within(this.closeWorker(closeMs, 'drain'), closeMs + 2 * FORCED_CLOSE_MS)) === 'timeout')
      this.o.logger.warn({ actor: this.id }, 'drain: abandoned closing the BullMQ worker');
    clearTimeout(release);
    // A runner restart under way waits for its boot: not within a drain's budget.
    if ((await within(this.slot.stop(), killMs)) === 'timeout') {
      this.o.logger.warn({ actor: this.id }, 'drain: the runner did not stop in time; killing it');
      this.slot.abandon();
    }
    this.setState('STOPPED');
  }

  abandon(): void {
    this.draining = true;
    this.watchdog.stop();
    this.o.logger.error(
      { actor: this.id, jobId: this.active?.jobId, nodeId: this.active?.nodeId },
      'drain out of time: abandoned the actor, its runner killed',
    );
    this.slot.abandon();
  }

  // ---- BullMQ ----

  private createWorker(): void {
    const connection = this.o.createWorkerConnection();
    const worker = new Worker(
      NODE_QUEUES[this.o.spec.resourceClass],
      (job, token) => this.process(job, token),
      {
        connection,
        concurrency: 1,
        autorun: true,
        name: this.id,
        lockDuration: this.o.bullmq.lockDurationMs,
        stalledInterval: this.o.bullmq.stalledIntervalMs,
        maxStalledCount: 1,
      },
    );
    worker.on('error', (err) =>
      this.o.logger.error({ actor: this.id, err: err.message }, 'bullmq worker error'),
    );
    worker.on('lockRenewalFailed', (jobIds) => {
      const a = this.active;
      if (!a || !jobIds.includes(a.bullJobId)) return;
      this.o.logger.error(
        { actor: this.id, jobId: a.jobId, nodeId: a.nodeId },
        'lost the lock of the running attempt; killing it',
      );
      a.execution?.loseLock('the worker lost its BullMQ lock on the attempt');
    });
    this.worker = worker;
    this.workerConnection = connection;
    this.closingWorker = undefined;
  }

  /**
   * worker.close() can hang (a known BullMQ failure mode after an outage, or a running attempt whose
   * report Redis does not take): bound it, then force it, each step bounded so a drain keeps its budget.
   */
  private closeWorker(timeoutMs: number, why: 'drain' | 'recreate' | 'quarantine'): Promise<void> {
    const worker = this.worker;
    const connection = this.workerConnection;
    if (!worker) return Promise.resolve();
    this.closingWorker ??= (async () => {
      if ((await within(worker.close(), timeoutMs)) === 'timeout') {
        this.o.logger.warn(
          { actor: this.id, timeoutMs, why, jobId: this.active?.jobId, nodeId: this.active?.nodeId },
          this.active
            ? "bullmq worker.close() did not finish: abandoned the running attempt's last report (Redis unreachable?); forcing the close"
            : 'bullmq worker.close() did not finish; forcing it',
        );
        await within(worker.close(true), FORCED_CLOSE_MS);
      }
      if (connection) await within(this.o.closeConnection(connection), FORCED_CLOSE_MS);
    })();
    return this.closingWorker;
  }

  // ---- one attempt ----

  private async process(job: Job, _token?: string): Promise<void> {
    let payload: NodeAttemptPayload;
    try {
      payload = parseContract(NodeAttemptPayload, 'NodeAttemptPayload', job.data);
    } catch (e) {
      // Without valid ids there is no attempt to report on: fail the BullMQ job where operators see it.
      this.o.logger.error(
        { actor: this.id, bullJobId: job.id, err: (e as Error).message },
        'refused a malformed attempt',
      );
      throw new UnrecoverableError((e as Error).message);
    }
    const log = {
      actor: this.id,
      jobId: payload.jobId,
      nodeId: payload.nodeId,
      attempt: payload.attempt,
      task: payload.task,
    };
    this.active = { bullJobId: job.id!, jobId: payload.jobId, nodeId: payload.nodeId };
    this.watchdog.markBusy();
    this.o.metrics.attemptLeased(payload.task, queueWaitMs(job));
    const reporter = new AttemptReporter(this.o.reports, payloadRef(payload), this.o.workerId, (err) => {
      this.o.logger.error(
        { ...log, err: err.message },
        'a report of the attempt is undeliverable; stopping it',
      );
      this.o.metrics.reportUndeliverable('attempt');
      this.active?.execution?.failReports(err.message);
    });
    try {
      const cancelled = await retryWithin(this.o.redisRetryWindowMs, () =>
        this.o.redis.exists(cancelledJobKey(payload.jobId)),
      );
      if (cancelled) {
        this.o.logger.info(log, 'skipping an attempt of a cancelled job');
        this.o.metrics.attemptFinished(payload.task, 'skipped', 'CANCELLED');
        await reporter.failed({
          code: 'CANCELLED',
          message: 'the job was cancelled before this attempt started',
          retryable: false,
        });
        return;
      }
      const throttled = await this.o.tenants.throttledUntil(payload.tenant);
      if (throttled !== undefined) {
        this.o.metrics.attemptFinished(payload.task, 'failed', 'TENANT_THROTTLED');
        this.o.logger.warn(
          { ...log, tenant: payload.tenant, until: new Date(throttled).toISOString() },
          'tenant throttled: failing its attempt fast',
        );
        await reporter.failed(this.o.tenants.throttledError(payload.tenant, throttled));
        return;
      }
      const runner = await this.slot.ready();
      if (!runner) {
        const reason = this.draining ? 'worker draining' : 'actor quarantined';
        this.o.metrics.attemptFinished(payload.task, 'released');
        await reporter.released(reason);
        return;
      }
      if (!runner.tasks.some((t) => t.name === payload.task && t.version === payload.taskVersion)) {
        this.o.metrics.attemptFinished(payload.task, 'failed', 'UNSCHEDULABLE');
        await reporter.failed({
          code: 'UNSCHEDULABLE',
          message: `worker ${this.o.workerId} does not offer ${payload.task}@${payload.taskVersion}`,
          retryable: true,
        });
        return;
      }
      this.setState('BUSY');
      await reporter.started(this.id);
      const ranFrom = Date.now();
      const outcome = await runAttempt(runner, payload, reporter, {
        spec: this.o.spec,
        workRoot: this.o.workRoot,
        artifacts: this.o.artifacts,
        limits: { heartbeatTimeoutMs: this.o.heartbeatTimeoutMs, cancelGraceMs: this.o.cancelGraceMs },
        logger: this.o.logger,
        onExecution: (execution) => {
          this.active!.execution = execution;
          this.o.onChange();
        },
      });
      this.o.metrics.attemptRan(payload.task, outcome.type, Date.now() - ranFrom);
      this.o.logger.info(
        { ...log, outcome: outcome.type, ...('error' in outcome ? { error: outcome.error } : {}) },
        'attempt finished',
      );
      if (outcome.type === 'failed' && outcome.error.code === 'LOCK_LOST') {
        // BullMQ already gave the attempt to another worker (stalled check), which reports its end: no
        // terminal report from here, or the scheduler would count the other worker's run as failed.
        this.o.metrics.attemptFinished(payload.task, 'lock_lost', 'LOCK_LOST');
        reporter.log('warn', `${this.id} lost its lease on this attempt and stopped it`);
      } else {
        this.o.metrics.attemptFinished(
          payload.task,
          outcome.type,
          outcome.type === 'failed' ? outcome.error.code : undefined,
        );
        if (outcome.type === 'succeeded') await reporter.succeeded(outcome.outputs, outcome.artifactIds);
        else if (outcome.type === 'failed') await reporter.failed(outcome.error);
        else await reporter.released(outcome.reason);
      }
      if (outcome.runnerLost) {
        const blame = outcome.killedBy ?? 'platform';
        if (blame === 'attempt')
          await this.o.tenants.runnerKilled(payload.tenant, describeLoss(outcome), log);
        await this.slot.lost(describeLoss(outcome), blame);
      }
    } catch (e) {
      if (e instanceof ReportUndeliverableError) {
        // Visible: logged, counted, and BullMQ marks the job failed once Redis answers again; the
        // scheduler's reconciler then fails the attempt as CRASHED (retryable).
        this.o.logger.error(
          { ...log, err: e.message },
          'terminal report undeliverable; failing the BullMQ job',
        );
        this.o.metrics.reportUndeliverable(e.report.type);
      }
      throw e;
    } finally {
      this.active = undefined;
      this.watchdog.markBusy();
      if (this.quarantined) void this.closeWorker(this.o.bullmq.closeTimeoutMs, 'quarantine');
      else if (this.state === 'BUSY') this.setState('IDLE');
      this.o.onChange();
    }
  }

  private setState(state: ActorState): void {
    if (this.state === state) return;
    // Only the slot's probe (onSlotState) takes an actor out of quarantine.
    if (this.state === 'QUARANTINED' && state !== 'STOPPED') return;
    this.state = state;
    this.o.metrics.actorState(this.id, state);
    this.o.onChange();
  }
}

function describeLoss(outcome: AttemptOutcome): string {
  if (outcome.type === 'failed') return `${outcome.error.code}: ${outcome.error.message}`;
  return `runner stopped (${outcome.type})`;
}
