import type { Redis } from 'ioredis';
import { DISPATCHER_ID_PATTERN, ResourceClass, attemptJobId, type NodeAttemptPayload } from '#libs/contracts';
import type { AttemptQueueInfo, AttemptQueueState, AttemptToEnqueue, NodeEnqueuer } from './enqueuer.js';
import {
  FAIR_STAGE_PREFIX,
  FairQueue,
  type DispatchStep,
  type FairEntry,
  type StageDepth,
  type TakenBack,
} from './fair-queue.js';
import { LeaseSizer } from './lease-sizer.js';
import type { NodeQueue, NodeQueueJob } from './node-queue.js';
import type { SchedulerLogger } from './scheduler-ports.js';

/** Counters of the dispatch stage; the app backs them with #libs/observability metrics. */
export interface DispatchMetrics {
  /** Node-queue jobs handed over, each as the number of attempts it carries (1: a single; more: a lease). */
  dispatched(resourceClass: ResourceClass, attemptsPerJob: readonly number[]): void;
  dispatchFailed(resourceClass: ResourceClass, count: number): void;
  /** Occupancy entries the leader's pass dropped: attempts that had ended without their end removing them. */
  occupancyHealed?(resourceClass: ResourceClass, count: number): void;
  /** Attempts taken back out of the node queue for a tenant waiting under its share (decision 0005 "Occupancy"). */
  takenBack?(resourceClass: ResourceClass, count: number): void;
}

export const NO_DISPATCH_METRICS: DispatchMetrics = { dispatched: () => {}, dispatchFailed: () => {} };

export const DEFAULT_DISPATCH_WINDOW = 8;
export const DEFAULT_LEASE = { max: 1, targetMs: 50 };
/**
 * A dispatched attempt the node queue does not know this long after its dispatch is lost (lostAfterMs), even if
 * the replica that popped it still looks alive; one whose replica is dead is repaired sooner (lease-repairs.ts).
 */
export const DEFAULT_LOST_DISPATCH_MS = 30_000;

export interface FairDispatcherOptions {
  /** Attempts that may wait in each node queue at once (raised to the class's live actors, see maintain()). */
  window: number;
  /**
   * A dispatched attempt the node queue does not know this long after its dispatch frees its slot: the
   * dispatcher died between pop and add and the node no longer waits (if it still did, the reconciler would
   * have added it again already).
   */
  lostAfterMs: number;
  logger: SchedulerLogger;
  metrics: DispatchMetrics;
  now: () => number;
  /**
   * Leases (decision 0007): most attempts one node-queue job may carry (1: none), and how long a lease's
   * attempts should take together; its size follows how long the class's attempts ran lately.
   */
  lease: { max: number; targetMs: number };
  /**
   * This replica's id (its liveness key, ReplicaHeartbeat): the leases it pops are named with it, so the
   * reconciler can re-add one at once when this replica died before adding it. '' (default): leases name no
   * replica, and a lost one is re-added only after lostAfterMs.
   */
  dispatcherId: string;
}

export interface MaintenanceSummary {
  /** Slots freed by the sweep (attempts a worker took or that ended without the scheduler hearing it). */
  released: number;
  dispatched: number;
  /** Occupancy entries of ended attempts dropped (fair-queue.ts healOccupancy). */
  healed: number;
}

/**
 * Occupancy entries the leader's pass checks per class (one pipelined HMGET each): a pass stays bounded however
 * many attempts run, and walks the whole zset over passes (a cursor per class).
 */
export const OCCUPANCY_HEAL_BATCH = 500;

const SILENT: SchedulerLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Node enqueuer with fair share between tenants: attempts are held in the fair stage (FairQueue) and handed to
 * the node queue a few at a time, round robin over tenants, so a tenant's backlog waits in its own ready set
 * instead of in front of everyone. The window is filled after every enqueue, after a worker takes an attempt
 * (taken()), after a removal, when a retry's backoff elapses (a timer on this replica), and on every leader pass
 * (maintain()). A crash between a pop and the queue add loses nothing: the node is still QUEUED, the attempt is
 * in neither place, state() answers 'missing' and the reconciler enqueues it again (the stage then answers
 * 'dispatched' and it is added with the same id); an attempt popped in a lease is re-added in that lease, under
 * its id (requeueLease).
 */
export class FairDispatcher implements NodeEnqueuer {
  /** The scheduler's submit and start steps take and free slots themselves (see NodeEnqueuer.fairStage). */
  readonly fairStage: { keyPrefix: string; minWindow: number };
  protected readonly fair: FairQueue;
  private readonly opts: FairDispatcherOptions;
  private readonly timers = new Map<ResourceClass, { at: number; timer: NodeJS.Timeout }>();
  private readonly leaseSizer: LeaseSizer;
  /** Where the next pass's occupancy check reads, per class. */
  private readonly healFrom = new Map<ResourceClass, number>();
  private closed = false;

  constructor(
    redis: Redis,
    private readonly queue: NodeQueue,
    opts: Partial<FairDispatcherOptions> = {},
  ) {
    this.opts = {
      window: opts.window ?? DEFAULT_DISPATCH_WINDOW,
      lostAfterMs: opts.lostAfterMs ?? DEFAULT_LOST_DISPATCH_MS,
      logger: opts.logger ?? SILENT,
      metrics: opts.metrics ?? NO_DISPATCH_METRICS,
      now: opts.now ?? Date.now,
      lease: opts.lease ?? DEFAULT_LEASE,
      dispatcherId: opts.dispatcherId ?? '',
    };
    if (this.opts.dispatcherId !== '' && !DISPATCHER_ID_PATTERN.test(this.opts.dispatcherId))
      throw new Error(`a dispatcher id is 1 to 32 letters or digits, got "${this.opts.dispatcherId}"`);
    this.leaseSizer = new LeaseSizer(this.opts.lease);
    this.fair = new FairQueue(
      redis,
      this.opts.window,
      this.opts.now,
      (rc) => this.leaseSizer.size(rc),
      this.opts.dispatcherId,
    );
    this.fairStage = { keyPrefix: FAIR_STAGE_PREFIX, minWindow: this.opts.window };
  }

  /** This replica's id as the leases it pops carry it ('' when none was given). */
  get dispatcherId(): string {
    return this.opts.dispatcherId;
  }

  async enqueue({ payload, resourceClass, priority, delayMs }: AttemptToEnqueue): Promise<void> {
    const entry: FairEntry = { tenant: payload.tenant, priority, payload };
    const step = await this.fair.enqueue(resourceClass, entry, this.opts.now() + Math.max(0, delayMs));
    // already holding a slot: added again with the same id (a no-op, or the repair after a crash before the add);
    // one dispatched in a lease is not ('leased': the lease has another id)
    const again =
      step.status === 'dispatched'
        ? [{ id: attemptJobId(payload.jobId, payload.nodeId, payload.attempt), entry }]
        : [];
    await this.handOver(resourceClass, step, again);
  }

  /** An attempt of the class ran this long on its runner: leases are sized by it. */
  attemptRan(resourceClass: ResourceClass, ranMs: number): void {
    this.leaseSizer.observe(resourceClass, ranMs);
  }

  async enqueueDispatched({ payload, resourceClass, priority }: AttemptToEnqueue): Promise<void> {
    const id = attemptJobId(payload.jobId, payload.nodeId, payload.attempt);
    const entry: FairEntry = { tenant: payload.tenant, priority, payload };
    await this.handOver(resourceClass, {
      dispatched: [{ id, entry }],
      dropped: 0,
      nextDueMs: null,
      invalid: [],
      takeBack: [],
    });
  }

  /**
   * Adds a lease that never reached the node queue (its dispatcher died, or is stuck, between pop and add) under
   * its own id, with `attempts` (those of it still current, rebuilt by the reconciler). Should the dispatcher's
   * own add come after all, it is a no-op: an attempt is never in two node-queue jobs.
   */
  async requeueLease(
    resourceClass: ResourceClass,
    lease: string,
    attempts: readonly NodeAttemptPayload[],
  ): Promise<void> {
    if (attempts.length > 0) await this.queue.add(resourceClass, [{ lease, attempts }]);
  }

  async remove(resourceClass: ResourceClass, jobId: string, nodeId: string, attempt: number): Promise<void> {
    const id = attemptJobId(jobId, nodeId, attempt);
    const step = await this.fair.remove(resourceClass, id);
    await this.queue.remove(resourceClass, id);
    await this.handOver(resourceClass, step);
  }

  async reclaim(
    resourceClass: ResourceClass,
    jobId: string,
    nodeId: string,
    attempt: number,
    lease?: string,
  ): Promise<boolean> {
    // a started attempt holds no dispatch slot (its start freed it): only the node queue has it
    return this.queue.remove(resourceClass, lease ?? attemptJobId(jobId, nodeId, attempt));
  }

  async state(
    resourceClass: ResourceClass,
    jobId: string,
    nodeId: string,
    attempt: number,
  ): Promise<AttemptQueueState> {
    return (await this.inspect(resourceClass, jobId, nodeId, attempt)).state;
  }

  async inspect(
    resourceClass: ResourceClass,
    jobId: string,
    nodeId: string,
    attempt: number,
  ): Promise<AttemptQueueInfo> {
    const id = attemptJobId(jobId, nodeId, attempt);
    // the stage first: an attempt moves from it to the queue, so reading in this order never misses one
    // that is in either (at worst it reads 'missing' between a pop and its add, which the reconciler repairs)
    const placement = await this.fair.placement(resourceClass, id);
    if (placement.held === 'ready') return { state: 'waiting', held: true, dispatchedAt: null };
    if (placement.held === 'delayed') return { state: 'delayed', held: true, dispatchedAt: null };
    // an attempt dispatched in a lease is where its lease is
    const lease = placement.lease;
    const state = await this.queue.state(resourceClass, lease ?? id);
    return { state, held: false, dispatchedAt: placement.dispatchedAt, ...(lease ? { lease } : {}) };
  }

  /** Frees the attempt's dispatch slot (whichever class holds it) and fills the window again. */
  async taken(jobId: string, nodeId: string, attempt: number, resourceClass?: ResourceClass): Promise<void> {
    const id = attemptJobId(jobId, nodeId, attempt);
    await Promise.all(
      (resourceClass ? [resourceClass] : ResourceClass.options).map(async (rc) => {
        try {
          const step = await this.fair.release(rc, id);
          if (step.released) await this.handOver(rc, step);
        } catch (e) {
          // the leader's sweep frees the slot later; until then the window is one smaller
          this.opts.logger.warn(
            { resourceClass: rc, attemptId: id, err: (e as Error).message },
            'dispatch: freeing the slot of a taken attempt failed',
          );
        }
      }),
    );
  }

  /**
   * Fills the window of one class (a due retry, or a caller that freed room); `takeBack`: and takes attempts back
   * for a tenant waiting under its share behind a full window (a submit put it in the ring). Never throws: logs.
   */
  async dispatch(resourceClass: ResourceClass, opts: { takeBack?: boolean } = {}): Promise<number> {
    try {
      return await this.handOver(
        resourceClass,
        await this.fair.dispatch(resourceClass, opts.takeBack === true),
      );
    } catch (e) {
      this.opts.logger.error(
        { resourceClass, err: (e as Error).message },
        'dispatch: filling the window failed',
      );
      return 0;
    }
  }

  /**
   * The leader's safety net, per class: records the live actors (the window grows to them), frees the slots
   * of attempts a worker has taken or that ended without the scheduler hearing of it, then fills the window.
   */
  async maintain(
    liveActors: Partial<Record<ResourceClass, number>> = {},
    capacityTtlMs = 15_000,
  ): Promise<MaintenanceSummary> {
    const summary: MaintenanceSummary = { released: 0, dispatched: 0, healed: 0 };
    for (const rc of ResourceClass.options) {
      await this.fair.recordCapacity(rc, liveActors[rc] ?? 0, capacityTtlMs);
      summary.healed += await this.healOccupancy(rc);
      for (const { id, at } of await this.fair.dispatchedSince(rc)) {
        const state = await this.queue.state(rc, (await this.fair.leaseOf(rc, id)) ?? id);
        const gone = state === 'missing' && this.opts.now() - at > this.opts.lostAfterMs;
        if (state === 'active' || state === 'completed' || state === 'failed' || gone) {
          const step = await this.fair.release(rc, id);
          if (step.released) summary.released++;
          summary.dispatched += await this.handOver(rc, step);
        }
      }
      // with a look for attempts to take back: the safety net of a take-back a replica did not get to
      summary.dispatched += await this.handOver(rc, await this.fair.dispatch(rc, true));
    }
    return summary;
  }

  /**
   * Drops occupancy entries of attempts that ended without their end removing them (a bounded part per pass).
   * Each is a tenant held under its share for nothing until then: never silent (a warning and a metric).
   */
  private async healOccupancy(rc: ResourceClass): Promise<number> {
    const { next, healed } = await this.fair.healOccupancy(
      rc,
      this.healFrom.get(rc) ?? 0,
      OCCUPANCY_HEAL_BATCH,
    );
    this.healFrom.set(rc, next);
    if (healed.length > 0) {
      this.opts.metrics.occupancyHealed?.(rc, healed.length);
      this.opts.logger.warn(
        { resourceClass: rc, healed: healed.length, attempts: healed.slice(0, 10) },
        'dispatch: dropped occupancy of attempts that had ended (their end did not remove it)',
      );
    }
    return healed.length;
  }

  async stageDepth(): Promise<Record<ResourceClass, StageDepth>> {
    const entries = await Promise.all(
      ResourceClass.options.map(async (rc) => [rc, await this.fair.depth(rc)] as const),
    );
    return Object.fromEntries(entries) as Record<ResourceClass, StageDepth>;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await this.queue.close();
  }

  /**
   * Adds what a step popped to the node queue, in order; failures are logged (the reconciler repairs them). Then
   * takes back what the step named (not after a take-back's own step: its candidates wait for the next look).
   */
  private async handOver(
    rc: ResourceClass,
    step: DispatchStep,
    again: DispatchStep['dispatched'] = [],
    takingBack = false,
  ): Promise<number> {
    const added = await this.addToQueue(rc, step, again);
    if (step.takeBack.length === 0 || takingBack || this.closed) return added;
    return added + (await this.takeBack(rc, step.takeBack));
  }

  /**
   * Takes attempts a step named (tenants beyond their share, ahead of a tenant waiting under its share) back out
   * of the node queue, each only while it waits there (a worker that took it keeps it), and puts those removed
   * back in their tenants' ready sets in one step, which fills the window again: the waiting tenant's attempts
   * first. A crash or a failed step between the removal and that step loses nothing: the attempt is QUEUED, in
   * `dispatched` (stamped when it was named) and not in the queue; lostAfterMs later the leader's sweep frees its
   * slot and the reconciler adds it again under its id, as any dispatch lost between pop and add. Never throws.
   */
  private async takeBack(rc: ResourceClass, ids: readonly string[]): Promise<number> {
    const removed: TakenBack[] = [];
    for (const id of ids) {
      try {
        const payload = await this.queue.takeBack(rc, id);
        if (payload) removed.push({ id, tenant: payload.tenant, payload: JSON.stringify(payload) });
      } catch (e) {
        this.opts.logger.warn(
          { resourceClass: rc, attemptId: id, err: (e as Error).message },
          'dispatch: taking an attempt back out of the node queue failed; it stays there',
        );
      }
    }
    if (removed.length === 0) return 0;
    let step: { takenBack: number } & DispatchStep;
    try {
      step = await this.fair.takeBack(rc, removed);
    } catch (e) {
      this.opts.logger.error(
        { resourceClass: rc, attempts: removed.map((r) => r.id), err: (e as Error).message },
        'dispatch: holding attempts taken back out of the node queue failed; they are re-added when found lost',
      );
      return 0;
    }
    if (step.takenBack > 0) {
      this.opts.metrics.takenBack?.(rc, step.takenBack);
      this.opts.logger.info(
        {
          resourceClass: rc,
          takenBack: step.takenBack,
          named: ids.length,
          attempts: removed.slice(0, 10).map((r) => r.id),
        },
        'dispatch: took attempts of tenants beyond their share back out of the node queue for a tenant waiting under its share',
      );
    }
    return this.handOver(rc, step, [], true);
  }

  /** Adds what a step popped to the node queue, in order; failures are logged (the reconciler repairs them). */
  private async addToQueue(
    rc: ResourceClass,
    step: DispatchStep,
    again: DispatchStep['dispatched'] = [],
  ): Promise<number> {
    for (const bad of step.invalid) {
      this.opts.logger.error(
        { resourceClass: rc, attemptId: bad.id, err: bad.err },
        'dispatch: a held attempt does not parse; the reconciler enqueues its node again',
      );
    }
    if (step.dropped > 0)
      this.opts.logger.debug(
        { resourceClass: rc, dropped: step.dropped },
        'dispatch: dropped stale attempts',
      );
    this.armTimer(rc, step.nextDueMs);
    const attempts = [...again, ...step.dispatched];
    if (attempts.length === 0) return 0;
    const jobs = queueJobs(attempts);
    try {
      await this.queue.add(rc, jobs);
    } catch (e) {
      this.opts.metrics.dispatchFailed(rc, attempts.length);
      this.opts.logger.error(
        { resourceClass: rc, attempts: attempts.map((a) => a.id), err: (e as Error).message },
        'dispatch: adding attempts to the node queue failed; the reconciler enqueues them again',
      );
      return 0;
    }
    // `again` are singles added once more (the add is a no-op or a repair), not new dispatches
    if (step.dispatched.length > 0)
      this.opts.metrics.dispatched(
        rc,
        jobs.slice(again.length).map((j) => j.attempts.length),
      );
    return step.dispatched.length;
  }

  /** One timer per class for the earliest due retry this replica knows of (the leader's pass backs it up). */
  private armTimer(rc: ResourceClass, dueMs: number | null): void {
    if (dueMs === null || this.closed) return;
    const current = this.timers.get(rc);
    if (current && current.at <= dueMs) return;
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(
      () => {
        this.timers.delete(rc);
        void this.dispatch(rc);
      },
      Math.max(0, dueMs - this.opts.now()) + 1,
    );
    timer.unref();
    this.timers.set(rc, { at: dueMs, timer });
  }
}

/** The node-queue jobs of what a step popped, in order: a lease's attempts (consecutive) in one job. */
function queueJobs(attempts: DispatchStep['dispatched']): NodeQueueJob[] {
  const jobs: Array<{ lease?: string; attempts: NodeAttemptPayload[] }> = [];
  for (const { entry, lease } of attempts) {
    const last = jobs.at(-1);
    if (lease && last?.lease === lease) last.attempts.push(entry.payload);
    else jobs.push(lease ? { lease, attempts: [entry.payload] } : { attempts: [entry.payload] });
  }
  return jobs;
}
