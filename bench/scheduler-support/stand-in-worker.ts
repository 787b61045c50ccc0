import { hostname } from 'node:os';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  BULLMQ_PREFIX,
  NODE_QUEUES,
  NodeAttemptPayload,
  NodeLeasePayload,
  PROTOCOL_VERSION,
  REDIS_KEYS,
  cancelledJobKey,
  parseContract,
  type WorkerManifest,
} from '#libs/contracts';
// the gpu-worker's own report path, so the stand-in writes reports exactly as the real worker does
import { AttemptReporter } from '../../apps/gpu-worker/src/actor/attempt-reporter.js';
import { payloadRef } from '../../apps/gpu-worker/src/actor/node-payload.js';
import { ReportSink } from '../../apps/gpu-worker/src/actor/report-sink.js';
import { BENCH_TASKS, runBenchTask } from './bench-tasks.js';

const MANIFEST_TTL_MS = 15_000;

/**
 * Stands in for apps/gpu-worker without its runner processes: publishes a WorkerManifest, leases attempts from
 * the cpu node queue with a BullMQ Worker (single attempts and leases), checks the cancelled marker, then reports
 * `started` and `succeeded` through the gpu-worker's AttemptReporter/ReportSink (XADD sy:reports). The task
 * itself takes no time.
 */
export class StandInWorker {
  readonly id = `bench-worker-${process.pid}`;
  private readonly actorId = `${this.id}/cpu0`;
  private readonly redis: Redis;
  private readonly blocking: Redis;
  private readonly sink: ReportSink;
  private worker?: Worker;
  private heartbeat?: NodeJS.Timeout;
  private readonly errors: string[] = [];

  constructor(
    url: string,
    private readonly concurrency: number,
  ) {
    this.redis = new Redis(url, { maxRetriesPerRequest: null });
    this.blocking = new Redis(url, { maxRetriesPerRequest: null });
    this.sink = new ReportSink(this.redis, { retryWindowMs: 10_000 });
  }

  /** Errors the worker saw (a run with any is reported as invalid). */
  get problems(): readonly string[] {
    return this.errors;
  }

  async start(): Promise<this> {
    await this.publishManifest();
    this.heartbeat = setInterval(
      () => void this.publishManifest().catch((e: Error) => this.errors.push(e.message)),
      MANIFEST_TTL_MS / 3,
    );
    this.worker = new Worker(NODE_QUEUES.cpu, (job) => this.process(job), {
      connection: this.blocking,
      prefix: BULLMQ_PREFIX,
      concurrency: this.concurrency,
      maxStalledCount: 1,
    });
    this.worker.on('error', (e) => this.errors.push(`bullmq worker: ${e.message}`));
    this.worker.on('failed', (job, e) => this.errors.push(`attempt ${job?.id}: ${e.message}`));
    await this.worker.waitUntilReady();
    return this;
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.worker?.close();
    await this.redis
      .multi()
      .del(REDIS_KEYS.worker(this.id))
      .srem(REDIS_KEYS.workers, this.id)
      .exec()
      .catch(() => undefined);
    await Promise.all([this.redis.quit(), this.blocking.quit()].map((p) => p.catch(() => undefined)));
  }

  /** One BullMQ job: an attempt, or a lease whose attempts run in order (each its own reports, as the actor's). */
  private async process(job: Job): Promise<void> {
    if ('attempts' in job.data)
      for (const payload of parseContract(NodeLeasePayload, 'NodeLeasePayload', job.data).attempts)
        await this.run(payload);
    else await this.run(parseContract(NodeAttemptPayload, 'NodeAttemptPayload', job.data));
  }

  private async run(payload: NodeAttemptPayload): Promise<void> {
    const reporter = new AttemptReporter(this.sink, payloadRef(payload), this.id, (e) =>
      this.errors.push(e.message),
    );
    if (await this.redis.exists(cancelledJobKey(payload.jobId))) {
      await reporter.failed({
        code: 'CANCELLED',
        message: 'the job was cancelled before this attempt started',
        retryable: false,
      });
      return;
    }
    await reporter.started(this.actorId);
    const ranFrom = Date.now();
    await reporter.succeeded(runBenchTask(payload.task, payload.inputs), [], Date.now() - ranFrom);
  }

  private manifest(): WorkerManifest {
    const now = new Date().toISOString();
    return {
      id: this.id,
      hostname: hostname(),
      protocolVersion: PROTOCOL_VERSION,
      devices: [{ index: 0, kind: 'CPU', name: 'benchmark stand-in' }],
      actors: [{ id: this.actorId, device: 'CPU 0', resourceClass: 'cpu', state: 'IDLE', restarts: 0 }],
      tasks: BENCH_TASKS,
      ready: true,
      startedAt: now,
      heartbeatAt: now,
    };
  }

  private async publishManifest(): Promise<void> {
    await this.redis
      .multi()
      .set(REDIS_KEYS.worker(this.id), JSON.stringify(this.manifest()), 'PX', MANIFEST_TTL_MS)
      .sadd(REDIS_KEYS.workers, this.id)
      .exec();
  }
}
