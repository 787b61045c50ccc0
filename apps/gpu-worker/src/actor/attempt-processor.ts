import { UnrecoverableError, type Job } from 'bullmq';
import { NodeAttemptPayload, parseContract, type TaskManifest } from '#libs/contracts';
import { queueWaitMs, type WorkerMetrics } from '../worker-metrics.js';
import type { AttemptExecution, AttemptOutcome } from './attempt-execution.js';
import { AttemptReporter } from './attempt-reporter.js';
import { LeasedAttemptPayload, payloadRef } from './node-payload.js';
import { ReportUndeliverableError, type ReportSink } from './report-sink.js';
import type { RunnerLossBlame } from './runner-slot.js';
import type { TenantGuard } from './tenant-guard.js';

/** The attempt an actor is running, for cancel notices, lock loss and the manifest. */
export interface ActiveAttempt {
  bullJobId: string;
  jobId: string;
  nodeId: string;
  execution?: AttemptExecution;
}

/** A runner as the processor sees it: what it offers (the rest goes to `run`). */
export interface OfferingRunner {
  tasks: TaskManifest[];
}

/** What processing an attempt needs of its actor: narrow ports, so tests drive it with fakes. */
export interface AttemptPorts<R extends OfferingRunner> {
  actorId: string;
  workerId: string;
  reports: Pick<ReportSink, 'send'>;
  /** `started` may wait this long for the attempt's next report, to share its write (0: written at once). */
  startedLingerMs?: number;
  /**
   * What decides whether the attempt may start, read at once (one round trip, retried): the job was
   * cancelled before it started; until when its tenant is throttled (undefined: not throttled); for an
   * attempt of a lease, whether it was superseded.
   */
  preflight(payload: NodeAttemptPayload): Promise<AttemptPreflight>;
  tenants: Pick<TenantGuard, 'throttledError' | 'runnerKilled'>;
  /**
   * The runner to run the attempt on, after any restart; undefined when quarantined or draining. For an
   * attempt its lease already handed to the runner, that runner (even dead: its end is this attempt's).
   */
  readyRunner(payload: NodeAttemptPayload): Promise<R | undefined>;
  runnerLost(reason: string, blame: RunnerLossBlame): Promise<void>;
  draining(): boolean;
  /** Runs the attempt on the runner (runAttempt); `onExecution` hands the execution to the actor. */
  run(
    runner: R,
    payload: NodeAttemptPayload,
    reporter: AttemptReporter,
    onExecution: (e: AttemptExecution) => void,
  ): Promise<AttemptOutcome>;
  /** The actor's side of the attempt: leased, running on the runner, finished (whatever happened). */
  onLeased(active: ActiveAttempt): void;
  onRunning(): void;
  onExecution(): void;
  onFinished(): void;
  logger: {
    debug(obj: object, msg: string): void;
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
  metrics: WorkerMetrics;
}

/** The runner offers the attempt's task at its version. */
export const offersTask = (runner: OfferingRunner, payload: NodeAttemptPayload): boolean =>
  runner.tasks.some((t) => t.name === payload.task && t.version === payload.taskVersion);

export interface AttemptPreflight {
  cancelled: boolean;
  throttledUntil?: number;
  /**
   * Only for an attempt that came in a lease: why it must not run (it already ended, or another attempt of its
   * node is current). It is skipped without any report: its end was reported, or is another attempt's.
   */
  superseded?: string;
}

type Log = Record<string, unknown>;

/**
 * One leased BullMQ job: exactly one terminal NodeReport per attempt (none when the lock was lost:
 * another worker owns it then), and a normal return, so BullMQ completes the job; retries are the
 * scheduler's. Throws only for a malformed payload (UnrecoverableError) or an undeliverable report.
 */
export async function processAttempt<R extends OfferingRunner>(
  job: Job,
  p: AttemptPorts<R>,
  /** The job's data, already parsed by the caller (parsed here otherwise). */
  parsed?: NodeAttemptPayload,
): Promise<void> {
  const payload = parsed ?? parsePayload(job, p);
  const log: Log = {
    actor: p.actorId,
    jobId: payload.jobId,
    nodeId: payload.nodeId,
    attempt: payload.attempt,
    task: payload.task,
  };
  const active: ActiveAttempt = { bullJobId: job.id!, jobId: payload.jobId, nodeId: payload.nodeId };
  p.onLeased(active);
  p.metrics.attemptLeased(payload.task, queueWaitMs(job, Date.now()));
  const reporter = new AttemptReporter(
    p.reports,
    payloadRef(payload),
    p.workerId,
    (err) => {
      p.logger.error({ ...log, err: err.message }, 'a report of the attempt is undeliverable; stopping it');
      p.metrics.reportUndeliverable('attempt');
      active.execution?.failReports(err.message);
    },
    p.startedLingerMs,
  );
  try {
    const runner = await admit(payload, reporter, p, log);
    if (!runner) return;
    p.onRunning();
    // Not awaited: the write goes out while the runner starts (or, lingering, with the attempt's next report
    // when that comes within startedLingerMs). The reporter writes in order, so `started` is in the stream
    // before any later report of the attempt; if it cannot be written, the reporter is broken (onBroken
    // stops the run) and the terminal report below throws ReportUndeliverableError.
    reporter.started(p.actorId).catch(() => undefined);
    const ranFrom = Date.now();
    const outcome = await p.run(runner, payload, reporter, (execution) => {
      active.execution = execution;
      p.onExecution();
    });
    const ranMs = Date.now() - ranFrom;
    p.metrics.attemptRan(payload.task, outcome.type, ranMs);
    // A success is what the job's events already say: a debug line (one info line per attempt was a
    // measurable share of the worker's CPU, and the same again in whatever ships its log); anything else
    // is an info line.
    if (outcome.type === 'succeeded') p.logger.debug({ ...log, outcome: outcome.type }, 'attempt finished');
    else
      p.logger.info(
        { ...log, outcome: outcome.type, ...('error' in outcome ? { error: outcome.error } : {}) },
        'attempt finished',
      );
    await reportOutcome(outcome, payload, reporter, p, ranMs);
    await chargeRunnerLoss(outcome, payload, p, log);
  } catch (e) {
    if (e instanceof ReportUndeliverableError) {
      // Visible: logged, counted, and BullMQ marks the job failed once Redis answers again; the
      // scheduler's reconciler then fails the attempt as CRASHED (retryable).
      p.logger.error({ ...log, err: e.message }, 'terminal report undeliverable; failing the BullMQ job');
      p.metrics.reportUndeliverable(e.report.type);
    }
    throw e;
  } finally {
    p.onFinished();
  }
}

function parsePayload(job: Job, p: AttemptPorts<OfferingRunner>): NodeAttemptPayload {
  try {
    return parseContract(LeasedAttemptPayload, 'NodeAttemptPayload', job.data);
  } catch (e) {
    // Without valid ids there is no attempt to report on: fail the BullMQ job where operators see it.
    p.logger.error(
      { actor: p.actorId, bullJobId: job.id, err: (e as Error).message },
      'refused a malformed attempt',
    );
    throw new UnrecoverableError((e as Error).message);
  }
}

/** The checks before an attempt may run; each refusal is reported. Returns the runner, or undefined. */
async function admit<R extends OfferingRunner>(
  payload: NodeAttemptPayload,
  reporter: AttemptReporter,
  p: AttemptPorts<R>,
  log: Log,
): Promise<R | undefined> {
  // One read for all; a superseded attempt (leases only) decides first, then the cancelled marker.
  const { cancelled, throttledUntil: throttled, superseded } = await p.preflight(payload);
  if (superseded) {
    p.logger.debug({ ...log, why: superseded }, 'skipping a leased attempt that already ended');
    p.metrics.attemptFinished(payload.task, 'skipped', 'SUPERSEDED');
    return undefined;
  }
  if (cancelled) {
    p.logger.info(log, 'skipping an attempt of a cancelled job');
    p.metrics.attemptFinished(payload.task, 'skipped', 'CANCELLED');
    await reporter.failed({
      code: 'CANCELLED',
      message: 'the job was cancelled before this attempt started',
      retryable: false,
    });
    return undefined;
  }
  if (throttled !== undefined) {
    p.metrics.attemptFinished(payload.task, 'failed', 'TENANT_THROTTLED');
    p.logger.warn(
      { ...log, tenant: payload.tenant, until: new Date(throttled).toISOString() },
      'tenant throttled: failing its attempt fast',
    );
    await reporter.failed(p.tenants.throttledError(payload.tenant, throttled));
    return undefined;
  }
  const runner = await p.readyRunner(payload);
  if (!runner) {
    p.metrics.attemptFinished(payload.task, 'released');
    await reporter.released(p.draining() ? 'worker draining' : 'actor quarantined');
    return undefined;
  }
  if (!offersTask(runner, payload)) {
    p.metrics.attemptFinished(payload.task, 'failed', 'UNSCHEDULABLE');
    await reporter.failed({
      code: 'UNSCHEDULABLE',
      message: `worker ${p.workerId} does not offer ${payload.task}@${payload.taskVersion}`,
      retryable: true,
    });
    return undefined;
  }
  return runner;
}

async function reportOutcome(
  outcome: AttemptOutcome,
  payload: NodeAttemptPayload,
  reporter: AttemptReporter,
  p: AttemptPorts<OfferingRunner>,
  ranMs: number,
): Promise<void> {
  if (outcome.type === 'failed' && outcome.error.code === 'LOCK_LOST') {
    // BullMQ already gave the attempt to another worker (stalled check), which reports its end: no
    // terminal report from here, or the scheduler would count the other worker's run as failed.
    p.metrics.attemptFinished(payload.task, 'lock_lost', 'LOCK_LOST');
    reporter.log('warn', `${p.actorId} lost its lease on this attempt and stopped it`);
    return;
  }
  p.metrics.attemptFinished(
    payload.task,
    outcome.type,
    outcome.type === 'failed' ? outcome.error.code : undefined,
  );
  if (outcome.type === 'succeeded') await reporter.succeeded(outcome.outputs, outcome.artifactIds, ranMs);
  // the run's end says it ran (ranMs): a scheduler that applies it before `started` starts the attempt from it
  else if (outcome.type === 'failed') await reporter.failed(outcome.error, ranMs);
  else await reporter.released(outcome.reason, ranMs);
}

/**
 * A lost runner is restarted, charged to whoever lost it; a tenant whose attempts kill runners is counted. A
 * runner that asked to be replaced (`recycle`) is, after the attempt's report.
 */
async function chargeRunnerLoss(
  outcome: AttemptOutcome,
  payload: NodeAttemptPayload,
  p: AttemptPorts<OfferingRunner>,
  log: Log,
): Promise<void> {
  if (!outcome.runnerLost) {
    if (!outcome.recycle) return;
    // Not the tenant's doing (built-in task code or a library leaked): replaced at once, charged to nobody.
    p.logger.warn({ ...log, reason: outcome.recycle }, 'replacing the runner: the attempt left memory in it');
    await p.runnerLost(`recycled: ${outcome.recycle}`, 'platform');
    return;
  }
  const blame = outcome.killedBy ?? 'platform';
  if (blame === 'attempt') await p.tenants.runnerKilled(payload.tenant, describeLoss(outcome), log);
  await p.runnerLost(describeLoss(outcome), blame);
}

function describeLoss(outcome: AttemptOutcome): string {
  if (outcome.type === 'failed') return `${outcome.error.code}: ${outcome.error.message}`;
  return `runner stopped (${outcome.type})`;
}
