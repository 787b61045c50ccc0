import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  BULLMQ_PREFIX,
  attemptJobId,
  cancelledJobKey,
  leaseJobId,
  NODE_QUEUES,
  NodeReport,
  parseContract,
  REDIS_KEYS,
  parseReportEntry,
  WorkerManifest,
  type NodeAttemptPayload,
  type NodeLeasePayload,
  type ResourceClass,
} from '#libs/contracts';
import { waitFor } from '#libs/testing';

/**
 * What the jobs subgraph's scheduler does towards a worker, reduced to the wire: enqueue attempts on
 * the BullMQ queues, read NodeReports from sy:reports, publish cancel notices, read manifests. Used by
 * the worker scenarios so they exercise the real protocol without the whole control plane.
 */
export class SchedulerStandIn {
  readonly redis: Redis;
  private readonly queues = new Map<ResourceClass, Queue>();

  constructor(url: string) {
    // Waits through a Redis restart, as the scenarios kill Redis on purpose.
    this.redis = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 100 });
    this.redis.on('error', () => undefined);
  }

  queue(cls: ResourceClass): Queue {
    let q = this.queues.get(cls);
    if (!q) {
      q = new Queue(NODE_QUEUES[cls], { connection: this.redis, prefix: BULLMQ_PREFIX });
      q.on('error', () => undefined);
      this.queues.set(cls, q);
    }
    return q;
  }

  async enqueue(
    task: string,
    inputs: NodeAttemptPayload['inputs'],
    opts: {
      jobId?: string;
      nodeId?: string;
      attempt?: number;
      timeoutMs?: number;
      cls?: ResourceClass;
      tenant?: string;
    } = {},
  ): Promise<NodeAttemptPayload> {
    const payload: NodeAttemptPayload = {
      jobId: opts.jobId ?? randomUUID(),
      tenant: opts.tenant ?? 'acme',
      nodeId: opts.nodeId ?? 'a',
      attempt: opts.attempt ?? 1,
      maxAttempts: 3,
      task,
      taskVersion: '1.0.0',
      inputs,
      timeoutMs: opts.timeoutMs ?? 60_000,
      enqueuedAt: new Date().toISOString(),
    };
    await this.queue(opts.cls ?? 'cpu').add(task, payload, {
      jobId: attemptJobId(payload.jobId, payload.nodeId, payload.attempt),
      attempts: 1,
    });
    return payload;
  }

  /**
   * A lease of attempts (one BullMQ job, decision 0007), each with its node hash QUEUED as the scheduler keeps
   * it (an actor skips a leased attempt whose node no longer waits for it). `setNode` moves a node on.
   */
  async enqueueLease(
    attempts: Array<{ task: string; inputs: NodeAttemptPayload['inputs'] }>,
    cls: ResourceClass = 'cpu',
  ): Promise<NodeAttemptPayload[]> {
    const payloads = attempts.map(({ task, inputs }, i): NodeAttemptPayload => ({
      jobId: randomUUID(),
      tenant: 'acme',
      nodeId: `n${i}`,
      attempt: 1,
      maxAttempts: 3,
      task,
      taskVersion: '1.0.0',
      inputs,
      timeoutMs: 60_000,
      enqueuedAt: new Date().toISOString(),
    }));
    for (const p of payloads) await this.setNode(p, 'QUEUED');
    await this.queue(cls).add('lease', { attempts: payloads } satisfies NodeLeasePayload, {
      jobId: leaseJobId(payloads[0]!),
      attempts: 1,
    });
    return payloads;
  }

  async setNode(p: NodeAttemptPayload, status: string): Promise<void> {
    await this.redis.hset(REDIS_KEYS.node(p.jobId, p.nodeId), { status, attempt: String(p.attempt) });
  }

  async reports(
    filter: Partial<Pick<NodeReport, 'jobId' | 'nodeId' | 'attempt' | 'type'>> = {},
  ): Promise<NodeReport[]> {
    const entries = await this.redis.xrange(REDIS_KEYS.reports, '-', '+');
    return entries
      .flatMap(([, fields]) => parseReportEntry(fields))
      .filter((r) => Object.entries(filter).every(([k, v]) => (r as Record<string, unknown>)[k] === v));
  }

  async waitReport(
    filter: Partial<Pick<NodeReport, 'jobId' | 'nodeId' | 'attempt' | 'type'>>,
    timeoutMs = 20_000,
    logs?: () => string,
  ): Promise<NodeReport> {
    return waitFor(async () => (await this.reports(filter).catch(() => []))[0], {
      timeoutMs,
      intervalMs: 100,
      what: `report ${JSON.stringify(filter)}`,
      logs,
    });
  }

  /** Terminal reports of one attempt (the protocol allows exactly one). */
  async terminals(jobId: string, attempt = 1): Promise<NodeReport[]> {
    return (await this.reports({ jobId, attempt })).filter((r) =>
      ['succeeded', 'failed', 'released'].includes(r.type),
    );
  }

  async manifest(workerId: string): Promise<WorkerManifest | null> {
    const raw = await this.redis.get(REDIS_KEYS.worker(workerId));
    return raw ? parseContract(WorkerManifest, 'WorkerManifest', JSON.parse(raw)) : null;
  }

  /** cancelJob as the scheduler does it: the cancelled key, then the notice. */
  async cancel(jobId: string, reason = 'cancelled by a client'): Promise<void> {
    await this.redis.set(cancelledJobKey(jobId), '1');
    await this.redis.publish(REDIS_KEYS.cancelChannel, JSON.stringify({ jobId, reason }));
  }

  async close(): Promise<void> {
    for (const q of this.queues.values()) await q.close().catch(() => undefined);
    this.redis.disconnect();
  }
}
