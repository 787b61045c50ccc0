import type { Redis } from 'ioredis';
import { attemptJobId, leaseDispatcher, type NodeAttemptPayload, type ResourceClass } from '#libs/contracts';
import { currentAttemptPayload } from './attempt-enqueue.js';
import { reportsAppliedUpTo, reportsMark } from './attempt-verdicts.js';
import type { AttemptQueueInfo, NodeEnqueuer } from './enqueuer.js';
import { DEFAULT_LOST_DISPATCH_MS } from './fair-dispatcher.js';
import type { JobView, StoredNode } from './job-record.js';
import { JOB_KEYS } from './keys.js';
import { DEFAULT_ENQUEUE_GRACE_MS, type ReconcilerConfig, type RecordAction } from './reconciler-config.js';
import { replicaAlive } from './replica-liveness.js';
import { UnresolvedRefError } from './resolve-refs.js';
import type { Scheduler } from './scheduler.js';
import type { SchedulerLogger } from './scheduler-ports.js';

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
 * How many times one attempt goes back to the queue from a lease that ended without starting it; past that it is
 * judged CRASHED (a try) as before, so a lease every actor refuses (a payload no worker parses) cannot loop.
 */
export const MAX_LEASE_RETURNS = 3;
/** Counts of returns older than this are dropped. */
const LEASE_RETURNS_KEPT_MS = 3_600_000;

/**
 * The reconciler's lease repairs: a lease the node queue does not know is added again (lostLease), an active
 * lease whose actor died between two of its attempts is taken back (reclaimIdleLeases), and the never-started
 * attempts of a lease that ended go back in it (returnEndedLeases). The pass reports what it finds as it goes;
 * the repairs run when it is over, since a lease goes out again with every attempt of it the pass saw.
 */
export class LeaseRepairs {
  /** Leases found lost in the pass under way, by resource class and lease id. */
  private lostLeases = new Map<string, LostLease>();
  /** Replicas' liveness as first read in the pass under way. */
  private replicasAlive = new Map<string, boolean>();
  /**
   * Active leases in which the pass under way found attempts still waiting (their actor runs an earlier one, is
   * between two, or died between two), by resource class and lease id, with those attempts.
   */
  private activeLeaseWaiting = new Map<string, LeasedWaiting[]>();
  /** Active leases in which the pass under way found an attempt RUNNING (RunningAttempts judges those). */
  private activeLeaseRunning = new Set<string>();
  /**
   * Leases this reconciler took back from a dead worker, with when: their attempts still waiting go out again in
   * them at once, not lostDispatchMs after the dispatch (entries older than that are dropped).
   */
  private reclaimedLeases = new Map<string, number>();
  /** Leases the pass under way found ended (failed, completed) with attempts still waiting, with those attempts. */
  private endedLeaseWaiting = new Map<string, LeasedWaiting[]>();
  /**
   * Ended leases by key: the report stream's last id when first seen ended (read after their queue state), kept
   * across passes until every report up to it is applied (AttemptVerdicts' marks, per lease).
   */
  private endedMarks = new Map<string, string>();
  /** Attempts sent back from ended leases, by attempt id: how often and when last (MAX_LEASE_RETURNS). */
  private returned = new Map<string, { count: number; at: number }>();
  /** When the pass under way read its list of unfinished jobs. */
  private passStartedAt = 0;

  constructor(
    private readonly redis: Redis,
    private readonly scheduler: Scheduler,
    private readonly enqueuer: NodeEnqueuer,
    private readonly config: Pick<ReconcilerConfig, 'lostDispatchMs' | 'enqueueGraceMs'>,
    private readonly logger: SchedulerLogger,
    private readonly record: RecordAction,
    private readonly now: () => number,
  ) {}

  /** A pass starts; `passStartedAt`: when it read its list of unfinished jobs. */
  beginPass(passStartedAt: number): void {
    this.passStartedAt = passStartedAt;
    this.lostLeases = new Map();
    this.replicasAlive = new Map();
    this.activeLeaseWaiting = new Map();
    this.activeLeaseRunning = new Set();
    this.endedLeaseWaiting = new Map();
  }

  /**
   * Notes an attempt found in a lease BullMQ holds active. True when it is waiting there: reclaimIdleLeases judges
   * its lease once the pass is over, and the pass has nothing more to do with it.
   */
  seenInActiveLease(
    view: JobView,
    node: StoredNode,
    info: AttemptQueueInfo,
    where: Record<string, unknown>,
    waiting: boolean,
  ): boolean {
    const key = `${node.resourceClass}/${info.lease!}`;
    if (!waiting) {
      this.activeLeaseRunning.add(key);
      return false;
    }
    const seen = this.activeLeaseWaiting.get(key) ?? [];
    seen.push({ view, node, info, where });
    this.activeLeaseWaiting.set(key, seen);
    return true;
  }

  /**
   * Notes a waiting attempt (its node saw no start) found in a lease that ended: failed (its actor's hand-back was
   * refused, or a report of its was undeliverable) or completed. True when returnEndedLeases decides it once the
   * pass is over; false when the reconciler judges it CRASHED as before (this enqueuer cannot re-add a lease, or
   * the attempt went back MAX_LEASE_RETURNS times already).
   */
  seenInEndedLease(
    view: JobView,
    node: StoredNode,
    info: AttemptQueueInfo,
    where: Record<string, unknown>,
  ): boolean {
    if (!this.enqueuer.reclaim || !this.enqueuer.requeueLease) return false;
    const id = attemptJobId(view.job.id, node.id, node.attempt);
    if ((this.returned.get(id)?.count ?? 0) >= MAX_LEASE_RETURNS) return false;
    const key = `${node.resourceClass}/${info.lease!}`;
    const seen = this.endedLeaseWaiting.get(key) ?? [];
    seen.push({ view, node, info, where });
    this.endedLeaseWaiting.set(key, seen);
    return true;
  }

  /**
   * The ended leases the pass found with waiting attempts. Their actor is done with them (BullMQ failed or
   * completed the job with the actor's own lock: a lease whose lock is another's is active, the new owner's, and
   * never here), and wrote every report of theirs before the job ended. So once the report stream is applied up to
   * the lease's mark (read after its queue state), an attempt whose node is still QUEUED / RETRYING at that attempt
   * (read again now) never started: its actor gave it back unstarted, or never came to it. The lease is taken out
   * of the queue and those attempts go out again in it, under its id, keeping their attempt numbers (the lost-lease
   * repair): no try is consumed and none of them is in two node-queue jobs. One that started is judged as before.
   */
  async returnEndedLeases(): Promise<number> {
    const now = this.now();
    let actions = 0;
    for (const [key, waiting] of this.endedLeaseWaiting) {
      const first = waiting[0]!;
      const { resourceClass } = first.node;
      const lease = first.info.lease!;
      try {
        let mark = this.endedMarks.get(key);
        if (mark === undefined) {
          mark = await reportsMark(this.redis);
          this.endedMarks.set(key, mark);
        }
        if (!(await reportsAppliedUpTo(this.redis, mark))) continue;
        // every waiting attempt's node read again in one round trip (a lease holds up to its max of them)
        const reads = this.redis.pipeline();
        for (const w of waiting) reads.hmget(JOB_KEYS.node(w.view.job.id, w.node.id), 'status', 'attempt');
        const nodes = (await reads.exec()) ?? [];
        const unstarted = waiting.filter((w, i) => {
          const [err, fields] = nodes[i] ?? [new Error('no reply')];
          if (err) throw err;
          const [status, attempt] = fields as (string | null)[];
          return (status === 'QUEUED' || status === 'RETRYING') && Number(attempt) === w.node.attempt;
        });
        if (unstarted.length === 0) continue;
        // BullMQ removes a failed or completed job (no lock is held on it): the lease's id is free again
        if (
          !(await this.enqueuer.reclaim!(
            resourceClass,
            first.view.job.id,
            first.node.id,
            first.node.attempt,
            lease,
          ))
        )
          continue;
        this.endedMarks.delete(key);
        this.reclaimedLeases.set(lease, now);
        const ids = unstarted.map(({ view, node }) => attemptJobId(view.job.id, node.id, node.attempt));
        for (const id of ids)
          this.returned.set(id, { count: (this.returned.get(id)?.count ?? 0) + 1, at: now });
        this.record('lease_returned', {
          lease,
          resourceClass,
          queueState: first.where.queueState,
          unstarted: ids,
        });
        actions++;
        for (const w of unstarted) await this.lostLease(w.view, w.node, w.info, w.where, now);
      } catch (e) {
        this.logger.error(
          { lease, resourceClass, err: (e as Error).message },
          'reconciler: sending back the unstarted attempts of an ended lease failed (the next pass tries again)',
        );
      }
    }
    return actions;
  }

  /** The lease was taken back from a dead worker at `at`: its waiting attempts are known lost. */
  takenBack(lease: string, at: number): void {
    this.reclaimedLeases.set(lease, at);
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
  async lostLease(
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
      this.record('reenqueued', fields);
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
   * alive or not. One whose actor died there holds no attempt RunningAttempts could judge, and BullMQ's stalled
   * check, which would hand it to another actor, runs only inside workers of its queue: with none of the class
   * left it would stay active, its attempts counted as leased (no schedule-to-start), until the job deadline.
   * So the lease is taken back once no worker holds its lock (reclaim: BullMQ refuses while a live actor renews
   * it; one that lapsed is what BullMQ's own stalled check goes by) and its waiting attempts go out again in it
   * at once, under its id (the lost-lease repair), keeping their attempt numbers: none of them started. An actor
   * that was only paused finds its lock gone before its next attempt and stops (it reads the lease's lock before
   * starting attempts of it: apps/gpu-worker/README "A lease" step 5); the finished
   * attempts are not in the lease again. A lease reclaimed by RunningAttempts this pass sends its waiting
   * attempts out the same way. Only leases that went out at least the dispatch grace before the pass read its
   * jobs: every attempt they carry was seen then (but those of a job whose reconcile failed: see requeueLostLeases).
   */
  async reclaimIdleLeases(): Promise<number> {
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
        this.record('lease_reclaimed', {
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
  async requeueLostLeases(failed: number): Promise<number> {
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
      for (const where of lost.where) this.record('reenqueued', where);
      actions += lost.where.length;
    }
    return actions;
  }

  endPass(): void {
    const lostMs = this.config.lostDispatchMs ?? DEFAULT_LOST_DISPATCH_MS;
    for (const [lease, at] of this.reclaimedLeases)
      if (this.passStartedAt - at > lostMs) this.reclaimedLeases.delete(lease);
    // a lease no longer seen ended (sent back, or its attempts judged) needs no mark
    for (const key of this.endedMarks.keys())
      if (!this.endedLeaseWaiting.has(key)) this.endedMarks.delete(key);
    for (const [id, { at }] of this.returned)
      if (this.passStartedAt - at > LEASE_RETURNS_KEPT_MS) this.returned.delete(id);
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
}
