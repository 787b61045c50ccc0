import type { Redis } from 'ioredis';
import {
  REDIS_KEYS,
  attemptJobId,
  compareStreamIds,
  isTerminalJobStatus,
  leaseDispatcher,
  replyPairs,
  type JobError,
  type NodeAttemptPayload,
  type ResourceClass,
} from '#libs/contracts';
import { currentAttemptPayload } from './attempt-enqueue.js';
import type { AttemptQueueInfo, NodeEnqueuer } from './enqueuer.js';
import { DEFAULT_LOST_DISPATCH_MS } from './fair-dispatcher.js';
import { JobStore } from './job-store.js';
import type { JobView, StoredNode } from './job-record.js';
import { JOB_KEYS } from './keys.js';
import { replicaAlive } from './replica-liveness.js';
import { UnresolvedRefError } from './resolve-refs.js';
import type { Scheduler } from './scheduler.js';
import {
  NO_METRICS,
  type ReconcilerAction,
  type SchedulerLogger,
  type SchedulerMetrics,
} from './scheduler-ports.js';
import { workerAlive } from './worker-liveness.js';

export interface ReconcilerConfig {
  /**
   * Schedule-to-start: a node that could have been started this long without any worker starting it fails
   * UNSCHEDULABLE (time behind busy actors or held back by fair share does not count while a live worker offers
   * its task).
   */
  scheduleToStartMs: number;
  /**
   * An attempt dispatched in a lease the node queue does not know this long after is lost, even when the replica
   * that popped the lease still renews its liveness key (a live replica's add is that slow, or the lease names no
   * replica); with that key expired, it is lost at once (after enqueueGraceMs).
   */
  lostDispatchMs?: number;
  /** An attempt in no queue this soon after it was queued or dispatched is on its way there, not lost. */
  enqueueGraceMs?: number;
  /**
   * Start-to-close backstop: an attempt still running this long past its start plus its timeout, on a worker that
   * still renews its liveness key, fails TIMEOUT here (its worker's supervisor should have ended it at its
   * timeout). Default DEFAULT_CLOSE_GRACE_MS.
   */
  closeGraceMs?: number;
}

/** Past a worker's own end of a timed-out attempt (kill grace, final report) by far: ATTEMPT_CLOSE_GRACE_MS. */
export const DEFAULT_CLOSE_GRACE_MS = 60_000;

/**
 * Queuing a node and adding its attempt to a queue are two steps (a transition, then the enqueue; the dispatcher's
 * pop, then its add): a pass that falls between them finds the attempt in no queue. Well past the milliseconds
 * between the steps, well within the reconcile interval.
 */
export const DEFAULT_ENQUEUE_GRACE_MS = 2_000;

/** Each task some live worker offers now, with whether every actor that could run it is busy (a backlog). */
type Offered = ReadonlyMap<string, { backlog: boolean }>;

/** The offered tasks as the capability registry reads them now (CapabilityCatalog.loads). */
export type OfferedTasks = () => Promise<Offered>;

export interface ReconcileSummary {
  jobs: number;
  actions: number;
}

/** A lease found lost by the pass under way: its current attempts, re-added together when the pass is over. */
interface LostLease {
  resourceClass: ResourceClass;
  lease: string;
  attempts: NodeAttemptPayload[];
  /** What the action log says of each attempt. */
  where: object[];
}

/** A waiting attempt the pass under way found in a lease that BullMQ holds active. */
interface LeasedWaiting {
  view: JobView;
  node: StoredNode;
  info: AttemptQueueInfo;
  where: Record<string, unknown>;
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
 *  - schedule-to-start: a node no worker leased or started in time fails UNSCHEDULABLE (time held back by fair
 *    share or behind busy actors does not count while a live worker offers its task:
 *    docs/decisions/0005-fair-share.md);
 *  - the job-level deadline fails the job DEADLINE_EXCEEDED.
 */
export class Reconciler {
  private readonly store: JobStore;
  /**
   * Attempts whose queue job ended without a terminal report, by attempt id: the report stream's last id when
   * that was first seen. Every report of the attempt is at or before it, so the verdict waits only for the
   * stream to be applied up to there (under steady load the stream is never wholly caught up).
   */
  private endedMarks = new Map<string, string>();
  /** The attempts seen ended in the pass under way (the others' marks are dropped at its end). */
  private seenEnded = new Set<string>();
  /** Leases found lost in the pass under way, by resource class and lease id. */
  private lostLeases = new Map<string, LostLease>();
  /** Replicas' liveness as first read in the pass under way. */
  private replicasAlive = new Map<string, boolean>();
  /** Workers' liveness (manifest keys) as first read in the pass under way. */
  private workersAlive = new Map<string, boolean>();
  /**
   * Attempts whose queue job this reconciler took back from a dead worker and has not judged yet (their reports
   * were not all applied), by attempt id: the worker's id, which the verdict names.
   */
  private reclaimedFrom = new Map<string, string>();
  /**
   * Leases this reconciler took back from a dead worker, with when: their attempts still waiting go out again in
   * them at once, not lostDispatchMs after the dispatch (entries older than that are dropped).
   */
  private reclaimedLeases = new Map<string, number>();
  /** Attempts found on a dead worker whose queue lock still lives, logged once each (kept while seen so). */
  private lockWaits = new Set<string>();
  /** The attempts found running on a dead worker in the pass under way (the others' entries above are dropped). */
  private seenOnDeadWorker = new Set<string>();
  /**
   * Active leases in which the pass under way found attempts still waiting (their actor runs an earlier one, is
   * between two, or died between two), by resource class and lease id, with those attempts.
   */
  private activeLeaseWaiting = new Map<string, LeasedWaiting[]>();
  /** Active leases in which the pass under way found an attempt RUNNING (runningAttempt judges those). */
  private activeLeaseRunning = new Set<string>();
  /** When the pass under way read its list of unfinished jobs. */
  private passStartedAt = 0;
  /**
   * Per task, the last pass that saw every actor able to run it busy: schedule-to-start counts from no earlier
   * (entries too old to matter are dropped).
   */
  private backlogSeenAt = new Map<string, number>();
  /**
   * This leader's first pass (null until it runs): what happened before is unknown, maybe a backlog, so
   * schedule-to-start of an offered task counts from no earlier (conservative: a new leader fails nothing
   * UNSCHEDULABLE for one scheduleToStartMs).
   */
  private leaderSince: number | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly scheduler: Scheduler,
    private readonly enqueuer: NodeEnqueuer,
    private readonly offeredTasks: OfferedTasks,
    private readonly config: ReconcilerConfig,
    private readonly logger: SchedulerLogger,
    private readonly metrics: SchedulerMetrics = NO_METRICS,
    private readonly now: () => number = Date.now,
  ) {
    this.store = new JobStore(redis);
  }

  /** This replica was elected leader: its next pass starts watching for backlogs afresh. */
  leaderElected(): void {
    this.leaderSince = null;
  }

  async reconcileOnce(): Promise<ReconcileSummary> {
    this.passStartedAt = this.now();
    const jobIds = await this.redis.smembers(JOB_KEYS.activeJobs);
    const offered = await this.offeredTasks();
    this.observeBacklogs(offered);
    let actions = 0;
    let failed = 0;
    this.seenEnded = new Set();
    this.lostLeases = new Map();
    this.replicasAlive = new Map();
    this.workersAlive = new Map();
    this.seenOnDeadWorker = new Set();
    this.activeLeaseWaiting = new Map();
    this.activeLeaseRunning = new Set();
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
    actions += await this.reclaimIdleLeases();
    actions += await this.requeueLostLeases(failed);
    // an attempt no longer seen ended (its report came, or a verdict was given) needs no mark
    for (const id of this.endedMarks.keys()) if (!this.seenEnded.has(id)) this.endedMarks.delete(id);
    for (const id of this.reclaimedFrom.keys()) if (!this.seenEnded.has(id)) this.reclaimedFrom.delete(id);
    for (const id of this.lockWaits) if (!this.seenOnDeadWorker.has(id)) this.lockWaits.delete(id);
    const lostMs = this.config.lostDispatchMs ?? DEFAULT_LOST_DISPATCH_MS;
    for (const [lease, at] of this.reclaimedLeases)
      if (this.passStartedAt - at > lostMs) this.reclaimedLeases.delete(lease);
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
      if (failed) this.act('deadline_exceeded', { jobId });
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
      ? this.startableSince(node.task, Math.max(queuedAt, info.dispatchedAt ?? 0))
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
        this.act('unschedulable', where);
        return 1;
      }
      return 0;
    }
    if (waiting && state === 'missing') {
      const placedAt = Math.max(node.queuedAt ?? 0, info.dispatchedAt ?? 0);
      if (now - placedAt < (this.config.enqueueGraceMs ?? DEFAULT_ENQUEUE_GRACE_MS)) return 0;
      if (info.lease) return this.lostLease(view, node, info, where, now);
      await this.scheduler.enqueueNodes(jobId, [node.id]);
      this.act('reenqueued', where);
      return 1;
    }
    if (info.lease && state === 'active') {
      const key = `${node.resourceClass}/${info.lease}`;
      if (!waiting) this.activeLeaseRunning.add(key);
      else {
        const seen = this.activeLeaseWaiting.get(key) ?? [];
        seen.push({ view, node, info, where });
        this.activeLeaseWaiting.set(key, seen);
        return 0;
      }
    }
    if (!waiting && state === 'active') return this.runningAttempt(jobId, node, info, where, now);
    const ended = state === 'completed' || state === 'failed' || (state === 'missing' && !waiting);
    if (!ended) return 0;
    const attemptId = attemptJobId(jobId, node.id, node.attempt);
    const lostWorker = this.reclaimedFrom.get(attemptId);
    if (lostWorker !== undefined)
      return this.verdictAfterReports(jobId, node, workerLost(node, lostWorker), 'worker_lost', {
        ...where,
        workerId: lostWorker,
      });
    return this.verdictAfterReports(
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

  /**
   * A started attempt whose queue job is still active. BullMQ's stalled check, which hands the job of a dead worker
   * to another, runs only inside workers of that queue: with none left of the class (a GPU host lost), nothing
   * else would end the attempt before the job deadline. So the pass enforces it, as Temporal's server does with
   * heartbeat and start-to-close timeouts. When the worker that started the attempt let its liveness key expire,
   * the queue job is taken back as soon as its lock has lapsed too (a worker that holds it renews it, so it is
   * alive), then judged like an attempt whose queue job ended: CRASHED (retryable) once its reports are applied.
   * Taking the job out first means no worker's stalled check runs this attempt again, and the retry is a new
   * attempt number, so whatever the lost worker still reports of this one is stale. Backstop: an attempt running
   * past its start + timeout + closeGraceMs on a worker that looks alive fails TIMEOUT (retryable).
   */
  private async runningAttempt(
    jobId: string,
    node: StoredNode,
    info: AttemptQueueInfo,
    where: Record<string, unknown>,
    now: number,
  ): Promise<number> {
    const attemptId = attemptJobId(jobId, node.id, node.attempt);
    const workerId = node.workerId;
    const fields = { ...where, workerId: workerId ?? null };
    if (workerId !== undefined && !(await this.workerAlive(workerId))) {
      this.seenOnDeadWorker.add(attemptId);
      const reclaimed =
        (await this.enqueuer.reclaim?.(node.resourceClass, jobId, node.id, node.attempt, info.lease)) ??
        false;
      if (reclaimed) {
        this.reclaimedFrom.set(attemptId, workerId);
        if (info.lease) this.reclaimedLeases.set(info.lease, now);
        this.logger.warn(fields, 'reconciler: took back the queue job of an attempt whose worker is gone');
        return this.verdictAfterReports(jobId, node, workerLost(node, workerId), 'worker_lost', {
          ...fields,
          reclaimed: true,
        });
      }
      // its lock lapses within the worker's lock duration if it is dead; a lock renewed for good means a worker
      // that runs but no longer publishes its manifest, which the backstop below still bounds
      if (!this.lockWaits.has(attemptId))
        this.logger.warn(
          fields,
          'reconciler: attempt running on a worker whose liveness key expired; its queue lock has not lapsed yet',
        );
      this.lockWaits.add(attemptId);
    }
    const grace = this.config.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
    // from the start of the run on its current worker: a run BullMQ redelivered after a stall began then
    const runStart = node.runStartedAt ?? node.startedAt;
    const startedAt = runStart === undefined ? Number.NaN : Date.parse(runStart);
    if (!(now > startedAt + node.timeoutMs + grace)) return 0;
    const judged = await this.verdictAfterReports(
      jobId,
      node,
      {
        code: 'TIMEOUT',
        message: `attempt ${node.attempt} ran past its timeout (${node.timeoutMs} ms) and ${grace} ms more on worker ${workerId ?? '(unknown)'} without ending`,
        retryable: true,
      },
      'timed_out',
      fields,
    );
    // best effort: once its lock lapses nobody runs it again; while it lives, its worker still runs it
    if (judged > 0)
      await this.enqueuer.reclaim?.(node.resourceClass, jobId, node.id, node.attempt, info.lease);
    return judged;
  }

  /**
   * Fails an attempt with `error` once every report its worker sent before the pass read its queue state is
   * applied. A worker XADDs its terminal report before its BullMQ job ends, so once the queue says "ended" (or the
   * job was taken back), every report of this attempt is at or before the stream's last id read *after* that (a
   * mark read before the queue state proves nothing about a report sent in between); once the stream is applied up
   * to the mark, a report that is still missing was never sent. The mark is kept across passes until then.
   */
  private async verdictAfterReports(
    jobId: string,
    node: StoredNode,
    error: JobError,
    action: ReconcilerAction,
    where: Record<string, unknown>,
  ): Promise<number> {
    const attemptId = attemptJobId(jobId, node.id, node.attempt);
    this.seenEnded.add(attemptId);
    let mark = this.endedMarks.get(attemptId);
    if (mark === undefined) {
      mark = await reportsMark(this.redis);
      this.endedMarks.set(attemptId, mark);
    }
    if (!(await reportsAppliedUpTo(this.redis, mark))) return 0;
    this.endedMarks.delete(attemptId);
    this.reclaimedFrom.delete(attemptId);
    if ((await this.scheduler.failAttempt(jobId, node.id, node.attempt, error)) !== 'applied') return 0;
    this.act(action, where);
    return 1;
  }

  /**
   * A waiting attempt dispatched in a lease the node queue does not know. The stage answers 'leased' to a
   * re-enqueue while the lease is on record, so the attempt is never in two node-queue jobs: the repair adds the
   * lease itself again, under its id, which makes its dispatcher's own add a no-op whenever that lands (a replica
   * that was only paused comes back to a lease already there). It is due at once when the replica that popped
   * the lease (named in its id) has let its liveness key expire, and lostDispatchMs after the dispatch otherwise
   * (a live replica's add that slow; a lease naming no replica). The lease is re-added when the pass is over, with
   * every current attempt of it the pass saw: that is all of them when it went out before the pass read its list
   * of jobs, so one that went out later waits for the next pass.
   */
  private async lostLease(
    view: JobView,
    node: StoredNode,
    info: AttemptQueueInfo,
    where: Record<string, unknown>,
    now: number,
  ): Promise<number> {
    const lease = info.lease!;
    const dispatcher = leaseDispatcher(lease);
    const alive = dispatcher === null ? null : await this.replicaAlive(dispatcher);
    const lostMs = this.config.lostDispatchMs ?? DEFAULT_LOST_DISPATCH_MS;
    // a lease taken back from its dead worker is known lost: no add of its dispatcher's is still to come
    const reclaimed = this.reclaimedLeases.has(lease);
    if (!reclaimed && alive !== false && info.dispatchedAt !== null && now - info.dispatchedAt < lostMs)
      return 0;
    const grace = this.config.enqueueGraceMs ?? DEFAULT_ENQUEUE_GRACE_MS;
    if (info.dispatchedAt !== null && this.passStartedAt - info.dispatchedAt < grace) return 0;
    const fields = { ...where, dispatcher, dispatcherAlive: alive, ...(reclaimed ? { reclaimed } : {}) };
    if (!this.enqueuer.requeueLease) {
      // an enqueuer that cannot add a lease again: forget it, then enqueue the attempt on its own
      await this.enqueuer.remove(node.resourceClass, view.job.id, node.id, node.attempt);
      await this.scheduler.enqueueNodes(view.job.id, [node.id]);
      this.act('reenqueued', fields);
      return 1;
    }
    let payload: NodeAttemptPayload;
    try {
      payload = currentAttemptPayload(view, node, now);
    } catch (e) {
      if (!(e instanceof UnresolvedRefError)) throw e;
      // left out of the lease: once the lease has run, its attempt is judged CRASHED and retried, and the
      // retry's enqueue fails it INVALID_INPUT
      this.logger.error(
        { ...fields, err: e.message },
        'reconciler: a lost lease attempt has unresolved inputs',
      );
      return 0;
    }
    const key = `${node.resourceClass}/${lease}`;
    const lost = this.lostLeases.get(key) ?? {
      resourceClass: node.resourceClass,
      lease,
      attempts: [],
      where: [],
    };
    lost.attempts.push(payload);
    lost.where.push(fields);
    this.lostLeases.set(key, lost);
    return 0;
  }

  /**
   * Active leases the pass found with attempts waiting and none running: their actor is between two attempts,
   * alive or not. One whose actor died there holds no attempt runningAttempt could judge, and BullMQ's stalled
   * check, which would hand it to another actor, runs only inside workers of its queue: with none of the class
   * left it would stay active, its attempts counted as leased (no schedule-to-start), until the job deadline.
   * So the lease is taken back once no worker holds its lock (reclaim: BullMQ refuses while a live actor renews
   * it; one that lapsed is what BullMQ's own stalled check goes by) and its waiting attempts go out again in it
   * at once, under its id (the lost-lease repair), keeping their attempt numbers: none of them started. An actor
   * that was only paused finds its lock gone before its next attempt and stops (decision 0007); the finished
   * attempts are not in the lease again. A lease reclaimed by runningAttempt this pass sends its waiting
   * attempts out the same way. Only leases that went out at least the dispatch grace before the pass read its
   * jobs: every attempt they carry was seen then (but those of a job whose reconcile failed: see requeueLostLeases).
   */
  private async reclaimIdleLeases(): Promise<number> {
    const grace = this.config.enqueueGraceMs ?? DEFAULT_ENQUEUE_GRACE_MS;
    const now = this.now();
    let actions = 0;
    for (const [key, waiting] of this.activeLeaseWaiting) {
      const first = waiting[0]!;
      const { resourceClass } = first.node;
      const lease = first.info.lease!;
      const reclaimedThisPass = (this.reclaimedLeases.get(lease) ?? 0) >= this.passStartedAt;
      if (!reclaimedThisPass) {
        if (this.activeLeaseRunning.has(key) || !this.enqueuer.reclaim) continue;
        const seenWhole = waiting.every(
          ({ info }) => info.dispatchedAt !== null && this.passStartedAt - info.dispatchedAt >= grace,
        );
        if (!seenWhole) continue;
        let reclaimed: boolean;
        try {
          reclaimed = await this.enqueuer.reclaim(
            resourceClass,
            first.view.job.id,
            first.node.id,
            first.node.attempt,
            lease,
          );
        } catch (e) {
          this.logger.error(
            { lease, resourceClass, err: (e as Error).message },
            'reconciler: taking back an idle lease failed (the next pass tries again)',
          );
          continue;
        }
        if (!reclaimed) continue;
        this.reclaimedLeases.set(lease, now);
        this.act('lease_reclaimed', {
          lease,
          resourceClass,
          waiting: waiting.map(({ node, view }) => attemptJobId(view.job.id, node.id, node.attempt)),
        });
        actions++;
      }
      for (const w of waiting) await this.lostLease(w.view, w.node, w.info, w.where, now);
    }
    return actions;
  }

  /**
   * Adds the leases the pass found lost again, also after a pass in which some jobs failed to reconcile (`failed`):
   * waiting for a pass that reads every job would let one job that always fails stop every lease repair, and the
   * attempts would end UNSCHEDULABLE. An attempt of such a job is left out of its re-added lease; its state is the
   * lease's, so once the lease has run the pass finds it ended and judges it CRASHED (retryable).
   */
  private async requeueLostLeases(failed: number): Promise<number> {
    if (this.lostLeases.size === 0) return 0;
    if (failed > 0)
      this.logger.warn(
        { leases: [...this.lostLeases.values()].map((l) => l.lease), failedJobs: failed },
        'reconciler: re-adding lost leases after a pass that did not read every job (an attempt of an unread job is left out and judged once its lease has run)',
      );
    let actions = 0;
    for (const lost of this.lostLeases.values()) {
      try {
        await this.enqueuer.requeueLease!(lost.resourceClass, lost.lease, lost.attempts);
      } catch (e) {
        this.logger.error(
          { lease: lost.lease, err: (e as Error).message },
          'reconciler: adding a lost lease again failed (the next pass tries again)',
        );
        continue;
      }
      for (const where of lost.where) this.act('reenqueued', where);
      actions += lost.where.length;
    }
    return actions;
  }

  /** Notes the pass's start for every task in a backlog now, and this leader's first pass. */
  private observeBacklogs(offered: Offered): void {
    const at = this.passStartedAt;
    this.leaderSince ??= at;
    for (const [task, { backlog }] of offered) if (backlog) this.backlogSeenAt.set(task, at);
    // older than schedule-to-start, a backlog can no longer hold back any verdict
    for (const [task, seen] of this.backlogSeenAt)
      if (at - seen > this.config.scheduleToStartMs) this.backlogSeenAt.delete(task);
  }

  /** When an offered task's attempt, placed in its queue at `placedAt`, could first have been started. */
  private startableSince(task: string, placedAt: number): number {
    return Math.max(placedAt, this.backlogSeenAt.get(task) ?? 0, this.leaderSince ?? 0);
  }

  /** Whether the replica renews its liveness key, read once per pass. */
  private async replicaAlive(id: string): Promise<boolean> {
    let alive = this.replicasAlive.get(id);
    if (alive === undefined) {
      alive = await replicaAlive(this.redis, id);
      this.replicasAlive.set(id, alive);
    }
    return alive;
  }

  /** Whether the worker renews its manifest key, read once per pass. */
  private async workerAlive(id: string): Promise<boolean> {
    let alive = this.workersAlive.get(id);
    if (alive === undefined) {
      alive = await workerAlive(this.redis, id);
      this.workersAlive.set(id, alive);
    }
    return alive;
  }

  private act(action: ReconcilerAction, fields: object): void {
    this.metrics.reconcilerAction(action);
    this.logger.warn({ action, ...fields }, `reconciler: ${action.replace('_', ' ')}`);
  }
}

/** The verdict on an attempt whose worker died under it. */
const workerLost = (node: StoredNode, workerId: string): JobError => ({
  code: 'CRASHED',
  message: `attempt ${node.attempt} was running on worker ${workerId}, which is gone (its liveness key expired), and ended without a report from it`,
  retryable: true,
});

/** The report stream's last id ('0-0' while there is none): every report written so far is at or before it. */
export async function reportsMark(redis: Redis): Promise<string> {
  try {
    const stream = replyPairs((await redis.xinfo('STREAM', REDIS_KEYS.reports)) as unknown[]);
    return String(stream.get('last-generated-id') ?? '0-0');
  } catch (e) {
    if (e instanceof Error && e.message.includes('no such key')) return '0-0';
    throw e;
  }
}

/**
 * True when every report up to `mark` (a stream id) has been delivered to the scheduler group and acknowledged:
 * the group read past it and none at or before it is pending.
 */
export async function reportsAppliedUpTo(redis: Redis, mark: string): Promise<boolean> {
  if (mark === '0-0') return true;
  try {
    const groups = (await redis.xinfo('GROUPS', REDIS_KEYS.reports)) as unknown[][];
    const group = groups.map(replyPairs).find((g) => g.get('name') === REDIS_KEYS.reportsGroup);
    if (!group || compareStreamIds(String(group.get('last-delivered-id')), mark) < 0) return false;
    const pending = (await redis.xpending(
      REDIS_KEYS.reports,
      REDIS_KEYS.reportsGroup,
      '-',
      mark,
      1,
    )) as unknown[];
    return pending.length === 0;
  } catch (e) {
    if (e instanceof Error && e.message.includes('no such key')) return true;
    throw e;
  }
}
