import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  REDIS_KEYS,
  attemptJobId,
  isTerminalNodeStatus,
  jobErrorMessage,
  type JobError,
  type JobStatus,
  type NodeReport,
  type ResourceClass,
  type SubmitJobInput,
} from '#libs/contracts';
import { currentTraceparent } from '#libs/observability';
import type { PlannedJob } from '../planner/planner.js';
import { retryDelayMs } from './backoff.js';
import type {
  CancelOutcome,
  ReportOutcome,
  RetryOutcome,
  SchedulerConfig,
  SchedulerDeps,
} from './scheduler-types.js';
import type { NodeEnqueuer } from './enqueuer.js';
import { parseStoredNode, type JobView, type StoredNode } from './job-record.js';
import { JobStore } from './job-store.js';
import { JOB_KEYS, transitionKeys } from './keys.js';
import { parseLive } from './live-attempt.js';
import { enqueueAttempts, type AttemptEnqueueDeps, type PlacedAttempts } from './attempt-enqueue.js';
import { AttemptSchemas } from './attempt-schemas.js';
import { artifactVerdictError } from './artifact-verdict.js';
import {
  applyStart,
  impliedStart,
  settleFoldedStart,
  settleImpliedStart,
  type ImpliedStart,
  type StartStep,
  type StartedReport,
  type SucceededReport,
} from './start-step.js';
import { OutputValidator } from './output-validator.js';
import { NO_METRICS, type SchedulerLogger, type SchedulerMetrics } from './scheduler-ports.js';
import { runTransition, type ScriptName } from './scripts.js';
import { rootEntries, submitAnswer, submitRecord } from './submit-record.js';
import {
  artifactQuotaError,
  DEFAULT_TENANT_QUOTAS,
  quotaErrorFrom,
  type TenantQuotas,
} from './tenant-quotas.js';

export type * from './scheduler-types.js';

/**
 * A job's log events may take this many bytes of Redis (JOB_LOG_MAX_BYTES, counted as stored: a line plus ~70
 * bytes of JSON): about 6,000 lines of 100 characters, near the log's own length trim (EVENT_LOG_MAXLEN, 10,000
 * events), while a job of 8000-character lines holds 1 MiB instead of ~80 MB (docs/security.md).
 */
export const DEFAULT_JOB_LOG_MAX_BYTES = 1024 * 1024;

/**
 * The only writer of job state. Every transition is one Lua script (atomic, idempotent, checks the attempt is
 * the node's current one); what follows a transition (enqueueing ready nodes, removing queue entries) is safe
 * to repeat, and the reconciler repeats it if this process dies in between.
 */
export class Scheduler {
  readonly store: JobStore;
  private readonly redis: Redis;
  private readonly enqueuer: NodeEnqueuer;
  private readonly config: SchedulerConfig;
  private readonly quotas: Required<TenantQuotas>;
  private readonly logger: SchedulerLogger;
  private readonly metrics: SchedulerMetrics;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly outputs: OutputValidator;
  private readonly attemptSchemas = new AttemptSchemas();
  private readonly attemptEnqueue: AttemptEnqueueDeps;
  private readonly jobLogMaxBytes: number;

  constructor(deps: SchedulerDeps) {
    this.redis = deps.redis;
    this.store = new JobStore(deps.redis);
    this.outputs = new OutputValidator(deps.redis);
    this.enqueuer = deps.enqueuer;
    this.config = deps.config;
    this.quotas = { ...DEFAULT_TENANT_QUOTAS, ...deps.config.quotas };
    this.jobLogMaxBytes = deps.config.jobLogMaxBytes ?? DEFAULT_JOB_LOG_MAX_BYTES;
    this.logger = deps.logger;
    this.metrics = deps.metrics ?? NO_METRICS;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.attemptEnqueue = {
      enqueuer: this.enqueuer,
      logger: this.logger,
      metrics: this.metrics,
      now: this.now,
      schemas: this.attemptSchemas,
      failUnresolved: (jobId, nodeId, attempt, message) =>
        this.failAttempt(jobId, nodeId, attempt, { code: 'INVALID_INPUT', message, retryable: false }),
    };
  }

  private transition(name: ScriptName, jobId: string, extraKeys: string[], args: Array<string | number>) {
    return runTransition(this.redis, this.now(), name, [...transitionKeys(jobId), ...extraKeys], args);
  }

  /**
   * Writes a planned job atomically and enqueues its root nodes. The same idempotency key returns the same job.
   * Throws QuotaExceededError (nothing written) when the tenant's unfinished jobs or nodes would pass its quota,
   * or when its artifacts are at or over their quotas (bytes, records: checked in the same step, no extra command).
   * `view`: the new job as written (no read back); absent for an idempotent repeat (the caller reads that job).
   */
  async submit(
    tenant: string,
    input: SubmitJobInput,
    plan: PlannedJob,
  ): Promise<{ jobId: string; created: boolean; view?: JobView }> {
    const jobId = randomUUID();
    const { fields, nodes, outputSchemas } = submitRecord(
      tenant,
      input,
      plan,
      this.now() + this.config.jobDeadlineMs,
    );
    const traceparent = currentTraceparent();
    if (traceparent) fields.traceparent = traceparent; // the job's trace: its attempts are enqueued in it
    // without a trace, the submit step may hold roots in the fair stage itself (a traced enqueue has a span)
    const entries =
      this.enqueuer.fairStage && !traceparent
        ? rootEntries(jobId, tenant, input.priority ?? 0, plan, this.now())
        : {};
    const idemKey = input.idempotencyKey
      ? JOB_KEYS.idempotency(tenant, input.idempotencyKey)
      : JOB_KEYS.noIdempotencyKey;
    const [id, created, ...rest] = (await this.transition(
      'submitJob',
      jobId,
      [
        idemKey,
        JOB_KEYS.tenantJobs(tenant),
        JOB_KEYS.outputSchemas,
        REDIS_KEYS.tenantStoredBytes(tenant),
        REDIS_KEYS.tenantArtifacts(tenant),
      ],
      [
        jobId,
        JSON.stringify(fields),
        JSON.stringify(nodes),
        this.quotas.maxActiveJobs,
        this.quotas.maxQueuedNodes,
        JSON.stringify(outputSchemas),
        this.enqueuer.fairStage?.keyPrefix ?? '',
        this.enqueuer.fairStage?.minWindow ?? 0,
        JSON.stringify(entries),
        this.quotas.maxStoredBytes,
        this.quotas.maxArtifacts,
      ],
    )) as [string, number, ...unknown[]];
    if (created === -1) throw quotaErrorFrom(rest as string[]);
    if (created !== 1) return { jobId: id, created: false };
    // roots that took a slot in the step go to the node queue first (the reconciler re-adds one it finds in
    // neither place), then the rest
    const { ready, dispatched, held, fill, takeBack, view } = submitAnswer(rest); // as written: nothing is read back
    await this.enqueueNodes(jobId, ready, view, { dispatched: new Set(dispatched), held: new Set(held) });
    this.metrics.jobSubmitted();
    this.logger.info({ jobId, tenant, nodes: plan.nodes.length, template: plan.template }, 'job submitted');
    for (const rc of fill) await this.enqueuer.dispatch?.(rc); // attempts wait while the window has room
    // a tenant under its share waits behind a full window: attempts beyond others' shares come back out of it
    for (const rc of takeBack) await this.enqueuer.dispatch?.(rc, { takeBack: true });
    return { jobId: id, created: true, view };
  }

  /**
   * What submit would answer of the tenant's artifact quotas now: QuotaExceededError when its artifacts are at or
   * over either (validateGraph; submit checks them in its own step). One MGET; nothing when both are off.
   */
  async checkArtifactQuotas(tenant: string): Promise<void> {
    const { maxStoredBytes, maxArtifacts } = this.quotas;
    if (maxStoredBytes <= 0 && maxArtifacts <= 0) return;
    const [bytes, artifacts] = await this.redis.mget(
      REDIS_KEYS.tenantStoredBytes(tenant),
      REDIS_KEYS.tenantArtifacts(tenant),
    );
    const refusal = artifactQuotaError(this.quotas, Number(bytes ?? 0), Number(artifacts ?? 0));
    if (refusal) throw refusal;
  }

  /** Applies one worker report. Stale and duplicate reports change nothing. */
  async applyReport(report: NodeReport): Promise<ReportOutcome> {
    const { jobId, nodeId, attempt } = report;
    let outcome: ReportOutcome;
    let resourceClass: ResourceClass | undefined;
    let slotFreed = false;
    switch (report.type) {
      case 'started': {
        const start = await applyStart((...a) => this.transition(...a), this.attemptEnqueue, report);
        outcome = start.applied ? 'applied' : 'stale';
        resourceClass = start.resourceClass;
        slotFreed = start.slotFreed;
        break;
      }
      case 'progress': {
        // a progress applied before its attempt's `started` report starts the attempt first
        const ran = impliedStart(report, this.now());
        const [result, start, truncated] = (await this.transition(
          'recordProgress',
          jobId,
          [],
          [
            nodeId,
            attempt,
            report.progress,
            report.message ?? '',
            ran.workerId,
            ran.startedAt,
            attemptJobId(jobId, nodeId, attempt),
            this.enqueuer.fairStage?.keyPrefix ?? '',
            this.jobLogMaxBytes,
          ],
        )) as [string, StartStep?, number?];
        settleImpliedStart(this.attemptEnqueue, ran, start);
        outcome = okOrStale(result);
        if (truncated === 1)
          this.logger.info(
            { jobId, nodeId, attempt, maxBytes: this.jobLogMaxBytes },
            'job log truncated: its log budget is spent (by a progress message); its further lines are dropped',
          );
        // not dropped without a word (the metric counts it stale too)
        if (outcome === 'stale')
          this.logger.warn(
            { jobId, nodeId, attempt, progress: report.progress },
            'progress dropped: its attempt is not the node’s current one, or has ended (or the job is gone)',
          );
        break;
      }
      case 'log': {
        const result = await this.transition(
          'appendLog',
          jobId,
          [],
          [nodeId, attempt, report.level, report.message, this.jobLogMaxBytes],
        );
        outcome = result === 'stale' ? 'stale' : 'applied';
        // past the job's budget: counted, not logged line by line (the job's own truncation event says so)
        if (result === 'truncated' || result === 'dropped') this.metrics.logEventDropped();
        if (result === 'truncated')
          this.logger.info(
            { jobId, nodeId, attempt, maxBytes: this.jobLogMaxBytes },
            'job log truncated: its log budget is spent; its further lines are dropped',
          );
        // a line of the attempt read after its end (reports applied out of order) is appended after the end
        if (result === 'late')
          this.logger.debug({ jobId, nodeId, attempt }, 'log line applied after its attempt ended');
        // users read the logs: a line that is not appended is not dropped without a word
        if (result === 'stale')
          this.logger.warn(
            { jobId, nodeId, attempt, level: report.level },
            'log line dropped: its attempt is not the node’s current one (or the job is gone)',
          );
        break;
      }
      case 'succeeded':
        outcome = await this.complete(report);
        break;
      case 'failed':
        outcome = await this.failAttempt(jobId, nodeId, attempt, report.error, {
          started: impliedStart(report, this.now()),
        });
        break;
      case 'released': {
        const ran = impliedStart(report, this.now());
        const [result, start, next] = (await this.transition(
          'releaseAttempt',
          jobId,
          [],
          [
            nodeId,
            attempt,
            report.reason,
            ran?.workerId ?? '',
            ran?.startedAt ?? '',
            attemptJobId(jobId, nodeId, attempt),
            this.enqueuer.fairStage?.keyPrefix ?? '',
          ],
        )) as [string, StartStep?, number?];
        settleImpliedStart(this.attemptEnqueue, ran, start);
        outcome = result === 'requeued' ? 'applied' : 'stale';
        if (result === 'requeued') {
          this.logger.info(
            { jobId, nodeId, attempt, next, reason: report.reason },
            'attempt released; requeued',
          );
          await this.enqueueNodes(jobId, [nodeId]);
        }
        break;
      }
    }
    this.metrics.reportApplied(report.type, outcome);
    // the attempt left the queue: its dispatch slot goes to the next one (not awaited; taken() logs failures)
    if (LEFT_THE_QUEUE.has(report.type) && !slotFreed)
      void this.enqueuer.taken?.(jobId, nodeId, attempt, resourceClass);
    return outcome;
  }

  /**
   * A `started` report and the `succeeded` report of the same attempt, read together (ReportConsumer folds
   * them): applied as one completion step when nothing stands in the way, else the start first, as two reports.
   */
  async applyStartedAndSucceeded(start: StartedReport, done: SucceededReport): Promise<ReportOutcome> {
    const outcome = await this.complete(done, start);
    this.metrics.reportApplied(done.type, outcome);
    return outcome;
  }

  private async complete(report: SucceededReport, folded?: StartedReport): Promise<ReportOutcome> {
    const { jobId, nodeId, attempt, outputs, artifactIds } = report;
    // the attempt ran: a step applied before its `started` report starts it (none folded in)
    const ran = impliedStart(report, this.now());
    let start = folded;
    // a path that does not reach the step applies the folded start on its own first
    const unfold = async () => {
      if (start) await this.applyReport(start);
      start = undefined;
    };
    // an attempt this replica enqueued: its schema is known, the step checks the attempt is current
    const node =
      this.attemptSchemas.take(attemptJobId(jobId, nodeId, attempt)) ?? (await this.node(jobId, nodeId));
    const stale =
      !node || ('attempt' in node && (node.attempt !== attempt || isTerminalNodeStatus(node.status)));
    if (stale) return unfold().then(() => 'stale');
    const problems = await this.outputs.check(node, outputs);
    if (problems.length > 0) {
      await unfold();
      return this.failAttempt(
        jobId,
        nodeId,
        attempt,
        {
          code: 'INVALID_OUTPUT',
          message: jobErrorMessage(
            `outputs of ${node.task}@${node.taskVersion} do not match its output schema: ${problems.join('; ')}`,
          ),
          retryable: false,
        },
        { started: ran },
      );
    }
    const [status, startInfo, ...rest] = (await this.transition(
      'completeAttempt',
      jobId,
      [
        REDIS_KEYS.jobArtifacts(jobId),
        REDIS_KEYS.uncommittedArtifacts,
        REDIS_KEYS.attemptArtifacts(jobId, nodeId, attempt),
        REDIS_KEYS.jobArtifactOrder(jobId),
        REDIS_KEYS.uncommittedArtifactTenants,
      ],
      [
        nodeId,
        attempt,
        JSON.stringify(outputs),
        JSON.stringify(artifactIds),
        REDIS_KEYS.artifact(''),
        start?.workerId ?? '',
        attemptJobId(jobId, nodeId, attempt),
        this.enqueuer.fairStage?.keyPrefix ?? '',
        ran.workerId,
        ran.startedAt,
        REDIS_KEYS.expiredArtifact(''),
        REDIS_KEYS.tenantUncommittedArtifacts(''),
      ],
    )) as [string, StartStep, ...Array<string | number>];
    if (status === 'bad_artifact' || status === 'expired_artifact') {
      await unfold(); // the step wrote nothing
      const error = artifactVerdictError(status, String(rest[0]), nodeId, attempt);
      return this.failAttempt(jobId, nodeId, attempt, error, { started: ran });
    }
    if (start) settleFoldedStart(this.attemptEnqueue, start, startInfo);
    else settleImpliedStart(this.attemptEnqueue, ran, startInfo);
    if (status !== 'ok') return 'stale';
    // a tenant held at its share waits for the slot this attempt occupied (not awaited: dispatch() logs)
    if (Number(startInfo[5] ?? 0) === 1 && startInfo[4]) void this.enqueuer.dispatch?.(startInfo[4]);
    // the step names the node's class, folded start or not: leases of the class are sized by run times
    if (report.ranMs !== undefined && startInfo[4]) this.enqueuer.attemptRan?.(startInfo[4], report.ranMs);
    const [jobFinished, ...ready] = rest;
    if (Number(jobFinished) === 1) {
      this.metrics.jobFinished('SUCCEEDED');
      this.logger.info({ jobId }, 'job succeeded');
    }
    await this.enqueueNodes(jobId, ready.map(String));
    return 'applied';
  }

  /**
   * Fails the node's attempt `attempt`: a retry after backoff when the error is retryable and attempts remain,
   * else the node and its job fail. Also used by the reconciler (CRASHED, UNSCHEDULABLE). `unlessStarted`: a
   * verdict about an attempt nobody started is stale once a worker has started it (checked in the same step).
   * `started`: a worker says the attempt ran; if its start is not applied yet, the step applies it first.
   */
  async failAttempt(
    jobId: string,
    nodeId: string,
    attempt: number,
    error: JobError,
    opts: { unlessStarted?: boolean; started?: ImpliedStart } = {},
  ): Promise<ReportOutcome> {
    this.attemptSchemas.forget(attemptJobId(jobId, nodeId, attempt));
    const node = await this.node(jobId, nodeId);
    if (!node) return 'stale';
    const delay = retryDelayMs(node.failures + 1, this.config.backoff, this.random);
    const [status, start, ...rest] = (await this.transition(
      'failAttempt',
      jobId,
      [],
      [
        nodeId,
        attempt,
        JSON.stringify(error),
        error.retryable ? '1' : '0',
        delay,
        opts.unlessStarted ? '1' : '0',
        opts.started?.workerId ?? '',
        opts.started?.startedAt ?? '',
        attemptJobId(jobId, nodeId, attempt),
        this.enqueuer.fairStage?.keyPrefix ?? '',
      ],
    )) as [string, StartStep?, ...Array<string | number>];
    settleImpliedStart(this.attemptEnqueue, opts.started, start);
    if (status === 'retry') {
      this.logger.warn(
        { jobId, nodeId, attempt, next: rest[0], delayMs: delay, error },
        'attempt failed; retrying',
      );
      await this.enqueueNodes(jobId, [nodeId]);
      return 'applied';
    }
    if (status === 'failed') {
      this.logger.warn({ jobId, nodeId, attempt, error }, 'node failed; job failed and dead-lettered');
      await this.removeAttempts(jobId, rest.map(String));
      this.metrics.jobFinished('FAILED');
      return 'applied';
    }
    return 'stale';
  }

  /** Cancels the job (the caller has checked its tenant). Idempotent: a finished job stays as it is. */
  async cancel(jobId: string, reason = 'cancelled by request'): Promise<CancelOutcome> {
    const [status, ...rest] = (await this.transition('cancelJob', jobId, [], [reason])) as string[];
    if (status === 'missing') return { outcome: 'missing' };
    if (status === 'finished') return { outcome: 'finished', status: rest[0] as JobStatus };
    this.logger.info({ jobId, reason }, 'job cancelled');
    this.metrics.jobFinished('CANCELLED');
    await this.removeAttempts(jobId, rest);
    return { outcome: 'cancelled' };
  }

  /** Fails a whole job (job-level deadline). */
  async failJob(jobId: string, error: JobError): Promise<boolean> {
    const [status, ...rest] = (await this.transition(
      'failJob',
      jobId,
      [],
      [JSON.stringify(error)],
    )) as string[];
    if (status !== 'failed') return false;
    this.logger.warn({ jobId, error }, 'job failed');
    this.metrics.jobFinished('FAILED');
    await this.removeAttempts(jobId, rest);
    return true;
  }

  /**
   * A FAILED or CANCELLED job of `tenant` runs its unfinished nodes again. QuotaExceededError (nothing written)
   * when that passes a job quota, or when the tenant's artifacts are at or over their quotas: the re-run nodes
   * write new outputs (checked in the same step as submit's, no extra command).
   */
  async retry(jobId: string, tenant: string): Promise<RetryOutcome> {
    const [status, ...rest] = (await this.transition(
      'retryJob',
      jobId,
      [REDIS_KEYS.tenantStoredBytes(tenant), REDIS_KEYS.tenantArtifacts(tenant)],
      [
        this.now() + this.config.jobDeadlineMs,
        this.quotas.maxActiveJobs,
        this.quotas.maxQueuedNodes,
        this.quotas.maxStoredBytes,
        this.quotas.maxArtifacts,
        tenant,
      ],
    )) as string[];
    if (status === 'quota') throw quotaErrorFrom(rest);
    if (status === 'missing') return { outcome: 'missing' };
    if (status === 'conflict') return { outcome: 'conflict', status: rest[0] as JobStatus };
    this.logger.info({ jobId, nodes: rest }, 'job retried');
    await this.enqueueNodes(jobId, rest);
    return { outcome: 'retried' };
  }

  /** Puts each node's current attempt (QUEUED/RETRYING) on its queue: enqueueAttempts, harmless to repeat. */
  async enqueueNodes(
    jobId: string,
    nodeIds: readonly string[],
    known?: JobView,
    placed?: PlacedAttempts,
  ): Promise<void> {
    if (nodeIds.length === 0) return;
    const view = known ?? (await this.store.view(jobId));
    if (view) await enqueueAttempts(this.attemptEnqueue, view, nodeIds, placed);
  }

  private async removeAttempts(jobId: string, live: readonly string[]): Promise<void> {
    for (const a of live.map(parseLive)) {
      try {
        await this.enqueuer.remove(a.resourceClass, jobId, a.nodeId, a.attempt);
      } catch (e) {
        // the attempt's reports are stale now whatever the queue does; a worker that leases it sees the cancel marker
        this.logger.warn({ jobId, ...a, err: (e as Error).message }, 'could not remove a queued attempt');
      }
    }
  }

  private async node(jobId: string, nodeId: string): Promise<StoredNode | null> {
    const hash = await this.redis.hgetall(JOB_KEYS.node(jobId, nodeId));
    return hash.id ? parseStoredNode(hash) : null;
  }
}

const LEFT_THE_QUEUE = new Set<NodeReport['type']>(['started', 'failed', 'released']);
const okOrStale = (r: unknown): ReportOutcome => (r === 'ok' ? 'applied' : 'stale');
