import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { NODE_QUEUES, ResourceClass, attemptJobId } from '#libs/contracts';
import type { AttemptQueueState, AttemptToEnqueue, NodeEnqueuer } from './enqueuer.js';

/** BullMQ's priorities run lowest first (1 = highest); ours run highest first, 0..1000. */
export const bullmqPriority = (priority: number): number =>
  1 + (1000 - Math.min(1000, Math.max(0, priority)));

/**
 * Node attempts on BullMQ: one queue per resource class, job id = the attempt's id (so a repeated enqueue is a
 * no-op), attempts 1 (retries are the scheduler's: a retry is a new attempt with a new id).
 */
export class BullmqEnqueuer implements NodeEnqueuer {
  private readonly queues: Record<ResourceClass, Queue>;

  /** `connection` should fail fast (command role): an enqueue on a request path must not hang. */
  constructor(connection: Redis) {
    this.queues = Object.fromEntries(
      ResourceClass.options.map((rc) => [rc, new Queue(NODE_QUEUES[rc], { connection })]),
    ) as Record<ResourceClass, Queue>;
  }

  async enqueue({ payload, resourceClass, priority, delayMs }: AttemptToEnqueue): Promise<void> {
    await this.queues[resourceClass].add(payload.task, payload, {
      jobId: attemptJobId(payload.jobId, payload.nodeId, payload.attempt),
      attempts: 1,
      priority: bullmqPriority(priority),
      delay: delayMs > 0 ? delayMs : undefined,
      // kept a while so a repeated enqueue of a finished attempt stays a no-op and the reconciler can see how it ended
      removeOnComplete: { age: 24 * 3600, count: 50_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
    });
  }

  async remove(resourceClass: ResourceClass, jobId: string, nodeId: string, attempt: number): Promise<void> {
    // a job a worker holds is locked and stays; remove returns 0 then
    await this.queues[resourceClass].remove(attemptJobId(jobId, nodeId, attempt));
  }

  async state(
    resourceClass: ResourceClass,
    jobId: string,
    nodeId: string,
    attempt: number,
  ): Promise<AttemptQueueState> {
    const s = await this.queues[resourceClass].getJobState(attemptJobId(jobId, nodeId, attempt));
    switch (s) {
      case 'waiting':
      case 'prioritized':
      case 'waiting-children':
        return 'waiting';
      case 'delayed':
      case 'active':
      case 'completed':
      case 'failed':
        return s;
      default:
        return 'missing';
    }
  }

  /** Queue depth per resource class (waiting + prioritized + delayed), for the queue-depth gauge. */
  async depth(): Promise<Record<ResourceClass, number>> {
    const entries = await Promise.all(
      ResourceClass.options.map(
        async (rc) =>
          [rc, await this.queues[rc].getJobCountByTypes('waiting', 'prioritized', 'delayed')] as const,
      ),
    );
    return Object.fromEntries(entries) as Record<ResourceClass, number>;
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.queues).map((q) => q.close()));
  }
}
