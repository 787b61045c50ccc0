import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BULLMQ_PREFIX,
  NODE_QUEUES,
  ResourceClass,
  attemptJobId,
  type NodeAttemptPayload,
} from '#libs/contracts';
import type { AttemptQueueState } from './enqueuer.js';
import { FairDispatcher, type FairDispatcherOptions } from './fair-dispatcher.js';
import type { NodeQueue } from './node-queue.js';

/**
 * Node attempts on BullMQ: one queue per resource class, job id = the attempt's id (so a repeated add is a
 * no-op), attempts 1 (retries are the scheduler's: a retry is a new attempt with a new id). No BullMQ priority
 * and no delay: the fair stage in front has already ordered them (job priority within a tenant, round robin
 * across tenants) and holds retries until their backoff elapsed, so the queue serves them first in, first out.
 */
export class BullmqNodeQueue implements NodeQueue {
  private readonly queues: Record<ResourceClass, Queue>;

  /** `connection` should fail fast (command role): an enqueue on a request path must not hang. */
  constructor(connection: Redis) {
    this.queues = Object.fromEntries(
      ResourceClass.options.map((rc) => [
        rc,
        new Queue(NODE_QUEUES[rc], { connection, prefix: BULLMQ_PREFIX }),
      ]),
    ) as Record<ResourceClass, Queue>;
  }

  async add(resourceClass: ResourceClass, attempts: readonly NodeAttemptPayload[]): Promise<void> {
    const jobs = attempts.map((payload) => ({
      name: payload.task,
      data: payload,
      opts: {
        jobId: attemptJobId(payload.jobId, payload.nodeId, payload.attempt),
        attempts: 1,
        // kept a while so a repeated add of a finished attempt stays a no-op and the reconciler can see how it ended
        removeOnComplete: { age: 24 * 3600, count: 50_000 },
        removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
      },
    }));
    if (jobs.length === 1) await this.queues[resourceClass].add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts);
    else if (jobs.length > 1) await this.queues[resourceClass].addBulk(jobs);
  }

  async remove(resourceClass: ResourceClass, attemptId: string): Promise<void> {
    // a job a worker holds is locked and stays; remove returns 0 then
    await this.queues[resourceClass].remove(attemptId);
  }

  async state(resourceClass: ResourceClass, attemptId: string): Promise<AttemptQueueState> {
    const s = await this.queues[resourceClass].getJobState(attemptId);
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

/** The scheduler's enqueuer as the app wires it: the fair-share stage in front of the BullMQ node queues. */
export class BullmqEnqueuer extends FairDispatcher {
  private readonly nodeQueue: BullmqNodeQueue;

  /**
   * `queueConnection` (default: `connection`) carries BullMQ's commands. BullMQ defines its ~65 Lua scripts on
   * the connection it is given, and ioredis copies every defined script into each auto-pipeline it flushes
   * (ioredis Pipeline constructor): on the auto-pipelined command connection that copy was ~9 % of the jobs
   * subgraph's CPU. The app gives BullMQ a connection of its own so the command connection has no scripts.
   */
  constructor(
    connection: Redis,
    opts: Partial<FairDispatcherOptions> = {},
    queueConnection: Redis = connection,
  ) {
    const nodeQueue = new BullmqNodeQueue(queueConnection);
    super(connection, nodeQueue, opts);
    this.nodeQueue = nodeQueue;
  }

  /** Attempts waiting in the BullMQ queues (the dispatch window), per class. */
  depth(): Promise<Record<ResourceClass, number>> {
    return this.nodeQueue.depth();
  }
}
