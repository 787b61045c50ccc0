import type { NodeAttemptPayload, ResourceClass } from '#libs/contracts';

export interface AttemptToEnqueue {
  payload: NodeAttemptPayload;
  resourceClass: ResourceClass;
  /** The job's priority (higher runs first); the adapter maps it to its queue's convention. */
  priority: number;
  /** Not before this many ms (retry backoff). */
  delayMs: number;
}

/** What the queue knows about one attempt. `missing`: never enqueued, or removed. */
export type AttemptQueueState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'missing';

/** Where an attempt waits, for the reconciler's schedule-to-start clock. */
export interface AttemptQueueInfo {
  state: AttemptQueueState;
  /** Held back by fair share (not yet offered to any worker): its tenant's turn has not come. */
  held: boolean;
  /** When it was handed to the queue workers lease from (ms), while no worker has taken it; null if unknown. */
  dispatchedAt: number | null;
  /** The node-queue job it went out in when that is a lease (decision 0007); `state` is the lease's. */
  lease?: string;
}

/**
 * The scheduler's view of the node queues. Enqueueing the same attempt twice is a no-op (the queue job id is
 * the attempt's id), which makes every enqueue safe to repeat after a crash.
 */
export interface NodeEnqueuer {
  enqueue(attempt: AttemptToEnqueue): Promise<void>;
  /**
   * Adds a lease that never reached the queue again under its own id (`lease`, as inspect() named it), with
   * these attempts of it: a repeat, or the lost add landing after all, is a no-op.
   */
  requeueLease?(
    resourceClass: ResourceClass,
    lease: string,
    attempts: readonly NodeAttemptPayload[],
  ): Promise<void>;
  /** Removes a queued attempt; an attempt a worker holds stays (it is told to stop through CancelNotice). */
  remove(resourceClass: ResourceClass, jobId: string, nodeId: string, attempt: number): Promise<void>;
  /**
   * Takes the node-queue job carrying a started attempt (its own, or `lease`, as inspect() named it) out of the
   * queue once no worker holds its lock: a worker that died mid-attempt leaves it active, where a later worker's
   * stalled check would run it again. False while a worker still holds the lock (it stays).
   */
  reclaim?(
    resourceClass: ResourceClass,
    jobId: string,
    nodeId: string,
    attempt: number,
    lease?: string,
  ): Promise<boolean>;
  state(
    resourceClass: ResourceClass,
    jobId: string,
    nodeId: string,
    attempt: number,
  ): Promise<AttemptQueueState>;
  /** Like state(), and whether fair share holds it back, and since when workers could have taken it. */
  inspect?(
    resourceClass: ResourceClass,
    jobId: string,
    nodeId: string,
    attempt: number,
  ): Promise<AttemptQueueInfo>;
  /**
   * A worker took the attempt (or reported its end without a start): it no longer waits in a queue.
   * `resourceClass`: its node's class when the caller knows it (else every class is looked at).
   */
  taken?(jobId: string, nodeId: string, attempt: number, resourceClass?: ResourceClass): Promise<void>;
  /**
   * Set when the scheduler's own steps may take and free dispatch slots of the fair stage (lua/includes/fair.lua
   * has its layout): submitJob takes a root node's slot when nothing waits (the stage's fast path), startAttempt
   * frees a started attempt's slot (instead of taken() after it). One Redis step where there were two.
   */
  readonly fairStage?: { keyPrefix: string; minWindow: number };
  /** Adds an attempt whose dispatch slot a scheduler step already took to the node queue (with fairStage). */
  enqueueDispatched?(attempt: AttemptToEnqueue): Promise<void>;
  /**
   * Fills the window of one class (after a step freed a slot that attempts wait for). `takeBack`: with the window
   * full, a tenant under its share waits (its submit put it in the ring): attempts of tenants beyond their share
   * that no worker holds come back out of the node queue (decision 0005 "Occupancy"). Never throws.
   */
  dispatch?(resourceClass: ResourceClass, opts?: { takeBack?: boolean }): Promise<number>;
  /** An attempt of the class ran this long on its runner (from its worker's report): sizes leases. */
  attemptRan?(resourceClass: ResourceClass, ranMs: number): void;
  close(): Promise<void>;
}
