import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BULLMQ_PREFIX,
  NODE_QUEUES,
  ResourceClass,
  NodeAttemptPayload,
  attemptJobId,
  type NodeLeasePayload,
} from '#libs/contracts';
import type { AttemptQueueState } from './enqueuer.js';
import { FairDispatcher, type FairDispatcherOptions } from './fair-dispatcher.js';
import type { NodeQueue, NodeQueueJob } from './node-queue.js';

/** Finished node-queue jobs are kept this long, so a repeated add stays a no-op and the reconciler sees the end. */
const KEEP_COMPLETED = { age: 24 * 3600, count: 50_000 };
const KEEP_FAILED = { age: 7 * 24 * 3600, count: 50_000 };

/**
 * Node attempts on BullMQ: one queue per resource class, job id = the attempt's id (so a repeated add is a
 * no-op) or, for a lease, the lease's (data: NodeLeasePayload), attempts 1 (retries are the scheduler's: a retry
 * is a new attempt with a new id). No BullMQ priority and no delay: the fair stage in front has already ordered
 * them (job priority within a tenant, round robin across tenants) and holds retries until their backoff
 * elapsed, so the queue serves them first in, first out.
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

  async add(resourceClass: ResourceClass, jobs: readonly NodeQueueJob[]): Promise<void> {
    const bulk = jobs.map(({ attempts, lease }) => {
      const first = attempts[0]!;
      const opts = { attempts: 1, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED };
      return lease
        ? {
            name: 'lease',
            data: { attempts: [...attempts] } satisfies NodeLeasePayload,
            opts: { ...opts, jobId: lease },
          }
        : {
            name: first.task,
            data: first,
            opts: { ...opts, jobId: attemptJobId(first.jobId, first.nodeId, first.attempt) },
          };
    });
    if (bulk.length === 1) await this.queues[resourceClass].add(bulk[0]!.name, bulk[0]!.data, bulk[0]!.opts);
    else if (bulk.length > 1) await this.queues[resourceClass].addBulk(bulk);
  }

  async remove(resourceClass: ResourceClass, jobId: string): Promise<boolean> {
    // BullMQ's removeJob refuses (0) only while the job's lock key lives: a worker holds it. An active job whose
    // worker died (the lock lapsed) is removed like a waiting one, also from the active list, so no later
    // worker's stalled check finds it to run again.
    return (await this.queues[resourceClass].remove(jobId)) === 1;
  }

  async takeBack(resourceClass: ResourceClass, jobId: string): Promise<NodeAttemptPayload | null> {
    const queue = this.queues[resourceClass];
    const job = await queue.getJob(jobId);
    if (!job || job.name === 'lease') return null;
    const parsed = NodeAttemptPayload.safeParse(job.data);
    if (!parsed.success || (await job.getState()) !== 'waiting') return null;
    // removeJob refuses a job whose lock lives: a worker that took it since the state was read keeps it. (One that
    // took it and already finished it within these two round trips would see it removed and dispatched again:
    // fairTakeBack holds it again only while its node is QUEUED at that attempt, i.e. its start not yet applied.)
    return (await queue.remove(jobId)) === 1 ? parsed.data : null;
  }

  async state(resourceClass: ResourceClass, jobId: string): Promise<AttemptQueueState> {
    const s = await this.queues[resourceClass].getJobState(jobId);
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
