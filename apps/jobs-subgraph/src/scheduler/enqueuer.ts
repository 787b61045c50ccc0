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

/**
 * The scheduler's view of the node queues. Enqueueing the same attempt twice is a no-op (the queue job id is
 * the attempt's id), which makes every enqueue safe to repeat after a crash.
 */
export interface NodeEnqueuer {
  enqueue(attempt: AttemptToEnqueue): Promise<void>;
  /** Removes a queued attempt; an attempt a worker holds stays (it is told to stop through CancelNotice). */
  remove(resourceClass: ResourceClass, jobId: string, nodeId: string, attempt: number): Promise<void>;
  state(
    resourceClass: ResourceClass,
    jobId: string,
    nodeId: string,
    attempt: number,
  ): Promise<AttemptQueueState>;
  close(): Promise<void>;
}
