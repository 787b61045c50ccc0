import type { Redis } from 'ioredis';
import { attemptJobId, isTerminalJobStatus, type JobError } from '#libs/contracts';
import { AttemptVerdicts, workerLost } from './attempt-verdicts.js';
import type { NodeEnqueuer } from './enqueuer.js';
import { JobStore } from './job-store.js';
import type { JobView, StoredNode } from './job-record.js';
import { JOB_KEYS } from './keys.js';
import { LeaseRepairs } from './lease-repairs.js';
import {
  DEFAULT_ENQUEUE_GRACE_MS,
  actionRecorder,
  type ReconcilerConfig,
  type RecordAction,
} from './reconciler-config.js';
import { RunningAttempts } from './running-attempts.js';
import { ScheduleToStartClock, type Offered } from './schedule-to-start-clock.js';
import type { Scheduler } from './scheduler.js';
import { NO_METRICS, type SchedulerLogger, type SchedulerMetrics } from './scheduler-ports.js';

export { reportsAppliedUpTo, reportsMark } from './attempt-verdicts.js';
export {
  DEFAULT_CLOSE_GRACE_MS,
  DEFAULT_ENQUEUE_GRACE_MS,
  type ReconcilerConfig,
} from './reconciler-config.js';

/** The offered tasks as the capability registry reads them now (CapabilityCatalog.loads). */
export type OfferedTasks = () => Promise<Offered>;

export interface ReconcileSummary {
  jobs: number;
  actions: number;
}

/**
 * The leader's pass over unfinished jobs. It repairs what a crash between two steps left behind and enforces
 * the deadlines: nothing waits forever.
 *  - a QUEUED/RETRYING node whose attempt is in no queue is enqueued again (a crash between transition and enqueue),
 *    once it has been queued or dispatched longer than a grace (a pass between the two steps finds it in none);
 *  - an attempt whose queue job ended (completed, failed, gone) without a terminal report fails CRASHED (retryable),
 *    judged only once every report sent before that queue state was read is applied, so a report still in the
 *    stream is never overtaken;
 *  - a lease BullMQ holds active with attempts waiting and none running, whose lock lapsed (its worker died between
 *    two of its attempts), is taken back and those attempts go out again in it (reclaimIdleLeases);
 *  - a lease that ended (BullMQ failed or completed it: a hand-back Redis refused, an undeliverable report) with
 *    attempts that never started sends those back in it, at their attempt number, without a try
 *    (returnEndedLeases), once every report sent before it ended is applied;
 *  - schedule-to-start: a node no worker leased or started in time fails UNSCHEDULABLE (time held back by fair
 *    share or behind busy actors does not count while a live worker offers its task:
 *    docs/decisions/0005-fair-share.md);
 *  - the job-level deadline fails the job DEADLINE_EXCEEDED.
 *
 * The pass reads each job and node and decides here; each collaborator owns one part and the state it keeps
 * (beginPass/endPass): LeaseRepairs (lost and idle leases), RunningAttempts (dead workers, start-to-close),
 * AttemptVerdicts (verdicts that wait for the report stream), ScheduleToStartClock (backlogs, leader changes).
 */
export class Reconciler {
  private readonly store: JobStore;
  private readonly record: RecordAction;
  private readonly clock: ScheduleToStartClock;
  private readonly verdicts: AttemptVerdicts;
  private readonly leases: LeaseRepairs;
  private readonly running: RunningAttempts;

  constructor(
    private readonly redis: Redis,
    private readonly scheduler: Scheduler,
    private readonly enqueuer: NodeEnqueuer,
    private readonly offeredTasks: OfferedTasks,
    private readonly config: ReconcilerConfig,
    private readonly logger: SchedulerLogger,
    metrics: SchedulerMetrics = NO_METRICS,
    private readonly now: () => number = Date.now,
  ) {
    this.store = new JobStore(redis);
    this.record = actionRecorder(logger, metrics);
    this.clock = new ScheduleToStartClock(config);
    this.verdicts = new AttemptVerdicts(redis, scheduler, this.record);
    this.leases = new LeaseRepairs(redis, scheduler, enqueuer, config, logger, this.record, now);
    this.running = new RunningAttempts(redis, enqueuer, config, logger, this.verdicts, this.leases);
  }

  /** This replica was elected leader: its next pass starts watching for backlogs afresh. */
  leaderElected(): void {
    this.clock.leaderElected();
  }

  async reconcileOnce(): Promise<ReconcileSummary> {
    const passStartedAt = this.now();
    const jobIds = await this.redis.smembers(JOB_KEYS.activeJobs);
    const offered = await this.offeredTasks();
    this.clock.beginPass(passStartedAt, offered);
    this.verdicts.beginPass();
    this.leases.beginPass(passStartedAt);
    this.running.beginPass();
    let actions = 0;
    let failed = 0;
    for (const jobId of jobIds) {
      try {
        actions += await this.reconcileJob(jobId, offered);
      } catch (e) {
        failed++;
        this.logger.error({ jobId, err: (e as Error).message }, 'reconciling a job failed');
      }
    }
    // also after a pass that did not read every job (see requeueLostLeases): one job that always fails must not
    // stop every repair; an attempt of an unread job left out of a lease is judged once that lease has run
    actions += await this.leases.reclaimIdleLeases();
    actions += await this.leases.returnEndedLeases();
    actions += await this.leases.requeueLostLeases(failed);
    this.verdicts.endPass();
    this.running.endPass();
    this.leases.endPass();
    return { jobs: jobIds.length, actions };
  }

  private async reconcileJob(jobId: string, offered: Offered): Promise<number> {
    const view = await this.store.view(jobId);
    if (!view || isTerminalJobStatus(view.job.status)) {
      await this.redis.srem(JOB_KEYS.activeJobs, jobId);
      return 0;
    }
    const now = this.now();
    if (now >= view.job.deadlineAt) {
      const failed = await this.scheduler.failJob(jobId, {
        code: 'DEADLINE_EXCEEDED',
        message: `the job did not finish by its deadline (${new Date(view.job.deadlineAt).toISOString()})`,
        retryable: false,
      });
      if (failed) this.record('deadline_exceeded', { jobId });
      return failed ? 1 : 0;
    }
    let actions = 0;
    for (const node of view.nodes) {
      if (node.status === 'QUEUED' || node.status === 'RETRYING' || node.status === 'RUNNING') {
        actions += await this.reconcileNode(view, node, now, offered);
      }
    }
    return actions;
  }

  private async reconcileNode(
    view: JobView,
    node: StoredNode,
    now: number,
    offered: Offered,
  ): Promise<number> {
    const jobId = view.job.id;
    const info = this.enqueuer.inspect
      ? await this.enqueuer.inspect(node.resourceClass, jobId, node.id, node.attempt)
      : {
          state: await this.enqueuer.state(node.resourceClass, jobId, node.id, node.attempt),
          held: false,
          dispatchedAt: null,
        };
    const state = info.state;
    const where = {
      jobId,
      nodeId: node.id,
      attempt: node.attempt,
      queueState: state,
      held: info.held,
      ...(info.lease ? { lease: info.lease } : {}),
    };
    // `node` was read before `state`: its status may lag behind what workers did since (their reports can
    // still be in the stream), so a verdict rests on the queue state and is re-checked inside the transition.
    const waiting = node.status !== 'RUNNING';
    const leased = state === 'active' || state === 'completed' || state === 'failed';
    // Schedule-to-start measures how long workers could have started the attempt and did not: from when it was
    // queued, or handed to the node queue if fair share held it back first, or the last pass that saw every
    // actor able to run it busy (a backlog). An attempt fair share still holds is waiting for its tenant's
    // turn, and one behind busy actors for running work to end, not unschedulable, as long as a live worker
    // offers its task (the job deadline bounds those waits). With no live worker offering the task it has been
    // unschedulable since it was queued, wherever it waits.
    const isOffered = offered.has(node.task);
    const heldForItsTurn = info.held && isOffered;
    const queuedAt = node.queuedAt ?? now;
    const waitingSince = isOffered
      ? this.clock.startableSince(node.task, Math.max(queuedAt, info.dispatchedAt ?? 0))
      : queuedAt;
    if (waiting && !leased && !heldForItsTurn && now - waitingSince > this.config.scheduleToStartMs) {
      const error: JobError = {
        code: 'UNSCHEDULABLE',
        message: isOffered
          ? `no worker started ${node.task}@${node.taskVersion} within ${this.config.scheduleToStartMs} ms`
          : `no live worker offers ${node.task}@${node.taskVersion} (waited ${this.config.scheduleToStartMs} ms)`,
        retryable: false,
      };
      const outcome = await this.scheduler.failAttempt(jobId, node.id, node.attempt, error, {
        unlessStarted: true,
      });
      if (outcome === 'applied') {
        this.record('unschedulable', where);
        return 1;
      }
      return 0;
    }
    if (waiting && state === 'missing') {
      const placedAt = Math.max(node.queuedAt ?? 0, info.dispatchedAt ?? 0);
      if (now - placedAt < (this.config.enqueueGraceMs ?? DEFAULT_ENQUEUE_GRACE_MS)) return 0;
      if (info.lease) return this.leases.lostLease(view, node, info, where, now);
      await this.scheduler.enqueueNodes(jobId, [node.id]);
      this.record('reenqueued', where);
      return 1;
    }
    if (info.lease && state === 'active' && this.leases.seenInActiveLease(view, node, info, where, waiting))
      return 0;
    if (!waiting && state === 'active') return this.running.check(jobId, node, info, where, now);
    // an attempt with no start in a lease that ended (a hand-back Redis refused, an undeliverable report): it goes
    // back to the queue without a try once its reports are applied (returnEndedLeases), not CRASHED
    if (
      waiting &&
      info.lease &&
      (state === 'failed' || state === 'completed') &&
      this.leases.seenInEndedLease(view, node, info, where)
    )
      return 0;
    const ended = state === 'completed' || state === 'failed' || (state === 'missing' && !waiting);
    if (!ended) return 0;
    const attemptId = attemptJobId(jobId, node.id, node.attempt);
    const lostWorker = this.verdicts.lostWorkerOf(attemptId);
    if (lostWorker !== undefined)
      return this.verdicts.afterReports(jobId, node, workerLost(node, lostWorker), 'worker_lost', {
        ...where,
        workerId: lostWorker,
      });
    return this.verdicts.afterReports(
      jobId,
      node,
      {
        code: 'CRASHED',
        message: `attempt ${node.attempt} ended in the queue (${state}) without a report from its worker`,
        retryable: true,
      },
      'crashed',
      where,
    );
  }
}
