import type { NodeAttemptPayload, ResourceClass } from '#libs/contracts';
import type { AttemptQueueState } from './enqueuer.js';

/**
 * One job of the node queue: a single attempt (its id is the attempt's), or a lease (`lease`: its id, from the
 * fair stage) carrying several attempts one actor runs in order (decision 0007).
 */
export interface NodeQueueJob {
  attempts: readonly NodeAttemptPayload[];
  lease?: string;
}

/**
 * The queue workers lease attempts from (one per resource class), behind the fair-share stage. Adding a job
 * that is already there is a no-op (its id is the attempt's or the lease's), so every add is safe to repeat.
 */
export interface NodeQueue {
  /** Adds the jobs in this order (the order the fair stage chose). */
  add(resourceClass: ResourceClass, jobs: readonly NodeQueueJob[]): Promise<void>;
  /**
   * Removes a job (by attempt or lease id) that no worker holds, in whatever state, an active one whose worker
   * died included; one a worker holds (its lock is live) stays. True when the queue no longer has it.
   */
  remove(resourceClass: ResourceClass, jobId: string): Promise<boolean>;
  /**
   * Takes a single attempt's job back out of the queue while it waits there (fair share's take-back, decision 0005
   * "Occupancy"): its payload when this call removed it while waiting; null when it is not a waiting single
   * attempt (a worker holds it, it ended, it is gone, a lease) or its data does not parse (then it stays).
   */
  takeBack(resourceClass: ResourceClass, jobId: string): Promise<NodeAttemptPayload | null>;
  /** The state of the job with this id (an attempt's, or a lease's). */
  state(resourceClass: ResourceClass, jobId: string): Promise<AttemptQueueState>;
  close(): Promise<void>;
}
