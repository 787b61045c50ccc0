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
  resourceClassOf,
  parseContract,
  type ActorState,
  type JobError,
  type JsonObject,
  type NodeReport,
  type ResourceClass,
  type TaskManifest,
  type WorkerManifest,
} from '#libs/contracts';

export type TaskHandler = (
  payload: NodeAttemptPayload,
  ctx: {
    /** A progress report, with the message a task may give it. */
    progress(p: number, message?: string): Promise<void>;
    /** A log line of the attempt, reported as the gpu-worker reports its runner's logs. */
    log(level: 'debug' | 'info' | 'warn' | 'error', message: string): Promise<void>;
  },
) => Promise<JsonObject>;

/** Thrown by a handler to fail the attempt with this error. */
export class TestTaskFailure extends Error {
  constructor(readonly error: JobError) {
    super(error.message);
  }
}

export interface TestWorkerOptions {
  url: string;
  id?: string;
  tasks: TaskManifest[];
  handlers: Record<string, TaskHandler>;
  resourceClasses?: ResourceClass[];
  concurrency?: number;
  manifestTtlMs?: number;
  /** BullMQ's lock on a leased job (default 5000 ms): how long a killed worker's jobs stay locked. */
  lockDurationMs?: number;
  /** Tasks whose processor dies after `started` without a terminal report (the BullMQ job fails). */
  crashTasks?: string[];
  /**
   * The states of the actors its manifest lists for each resource class its tasks need, as a real worker
   * advertises only tasks its own actors can lease (default one IDLE actor); `actorStates` changes them later.
   */
  actorStates?: ActorState[];
  /**
   * Awaited before each attempt of a lease (`index`: its place in the lease), ahead of its node check: a test
   * pauses or kills the worker between two attempts of a lease here.
   */
  beforeLeasedAttempt?: (payload: NodeAttemptPayload, index: number) => Promise<void>;
  /** Per resource class, instead of actorStates (its gpu actors all QUARANTINED, say); `classActorStates` later. */
  classActorStates?: Partial<Record<ResourceClass, ActorState[]>>;
}

/**
 * Stands in for the gpu-worker: publishes a WorkerManifest (heartbeat TTL), leases attempts from the node
 * queues with BullMQ and XADDs NodeReports (started, progress, succeeded/failed) like the real worker. A lease
 * (NodeLeasePayload) runs its attempts in order, skipping one its node no longer waits for, as the real actor
 * does (without its time slice).
 */
/** One lease of a BullMQ job by this worker: a stalled-job redelivery shows as a second lease of the same queue job id. */
export interface TestLease {
  queueJobId: string;
  jobId: string;
  nodeId: string;
  attempt: number;
  /** BullMQ's count of times the job was moved to active (2+ = redelivered). */
  attemptsStarted: number;
  stalledCounter: number;
  at: number;
}

export class TestWorker {
  readonly id: string;
  readonly ran: NodeAttemptPayload[] = [];
  readonly leases: TestLease[] = [];
  private readonly redis: Redis;
  private readonly workers: Worker[] = [];
  private readonly connections: Redis[] = [];
  private heartbeat?: NodeJS.Timeout;
  /** What the next manifest says its actors are doing (publishManifest() to tell the registry). */
  actorStates: ActorState[];
  classActorStates: Partial<Record<ResourceClass, ActorState[]>>;

  constructor(private readonly opts: TestWorkerOptions) {
    this.actorStates = opts.actorStates ?? ['IDLE'];
    this.classActorStates = opts.classActorStates ?? {};
    this.id = opts.id ?? `test-worker-${Math.random().toString(36).slice(2, 8)}`;
    this.redis = new Redis(opts.url, { maxRetriesPerRequest: null });
  }

  async start(): Promise<this> {
    await this.publishManifest();
    const ttl = this.opts.manifestTtlMs ?? 15_000;
    this.heartbeat = setInterval(() => void this.publishManifest().catch(() => undefined), ttl / 3);
    for (const rc of this.opts.resourceClasses ?? ['cpu']) {
      const connection = new Redis(this.opts.url, { maxRetriesPerRequest: null });
      this.connections.push(connection);
      const w = new Worker(NODE_QUEUES[rc], (job) => this.process(job), {
        connection,
        prefix: BULLMQ_PREFIX,
        concurrency: this.opts.concurrency ?? 4,
        stalledInterval: 1_000,
        lockDuration: this.opts.lockDurationMs ?? 5_000,
      });
      w.on('error', () => undefined);
      this.workers.push(w);
    }
    return this;
  }

  manifest(): WorkerManifest {
    const now = new Date().toISOString();
    const classes = [...new Set(this.opts.tasks.map((t) => resourceClassOf(t.resources)))].sort();
    const actors = classes.flatMap((rc) =>
      (this.classActorStates[rc] ?? this.actorStates).map((state, i) => ({
        id: `${this.id}/${rc}${i}`,
        device: `${rc.toUpperCase()} ${i}`,
        resourceClass: rc,
        state,
        restarts: 0,
      })),
    );
    return {
      id: this.id,
      hostname: 'test-host',
      protocolVersion: PROTOCOL_VERSION,
      devices: [{ index: 0, kind: 'CPU', name: 'test cpu' }],
      actors,
      tasks: this.opts.tasks,
      // as the gpu-worker: not ready while an actor is quarantined, but running, so it takes work on the others
      ready: actors.length > 0 && actors.every((a) => a.state !== 'QUARANTINED'),
      accepting: true,
      startedAt: now,
      heartbeatAt: now,
    };
  }

  async publishManifest(): Promise<void> {
    await this.redis
      .multi()
      .set(
        REDIS_KEYS.worker(this.id),
        JSON.stringify(this.manifest()),
        'PX',
        this.opts.manifestTtlMs ?? 15_000,
      )
      .sadd(REDIS_KEYS.workers, this.id)
      .exec();
  }

  async report(r: NodeReport): Promise<void> {
    await this.redis.xadd(REDIS_KEYS.reports, '*', 'r', JSON.stringify(r));
  }

  private async process(job: Job): Promise<void> {
    if (!('attempts' in job.data))
      return this.run(job, parseContract(NodeAttemptPayload, 'NodeAttemptPayload', job.data));
    const attempts = parseContract(NodeLeasePayload, 'NodeLeasePayload', job.data).attempts;
    for (const [index, payload] of attempts.entries()) {
      await this.opts.beforeLeasedAttempt?.(payload, index);
      const [status, attempt] = await this.redis.hmget(
        REDIS_KEYS.node(payload.jobId, payload.nodeId),
        'status',
        'attempt',
      );
      const current =
        ['QUEUED', 'RETRYING', 'RUNNING'].includes(status ?? '') && Number(attempt) === payload.attempt;
      if (current) await this.run(job, payload);
    }
  }

  private async run(job: Job, payload: NodeAttemptPayload): Promise<void> {
    if (await this.redis.exists(cancelledJobKey(payload.jobId))) return;
    this.ran.push(payload);
    this.leases.push({
      queueJobId: job.id ?? '',
      jobId: payload.jobId,
      nodeId: payload.nodeId,
      attempt: payload.attempt,
      attemptsStarted: job.attemptsStarted,
      stalledCounter: job.stalledCounter,
      at: Date.now(),
    });
    const base = {
      jobId: payload.jobId,
      tenant: payload.tenant,
      nodeId: payload.nodeId,
      attempt: payload.attempt,
      workerId: this.id,
    };
    const at = () => new Date().toISOString();
    await this.report({ ...base, type: 'started', actorId: `${this.id}/cpu0`, at: at() });
    if (this.opts.crashTasks?.includes(payload.task)) throw new Error('runner process died');
    const handler = this.opts.handlers[payload.task];
    try {
      if (!handler)
        throw new TestTaskFailure({
          code: 'TASK_FAILED',
          message: `no handler for ${payload.task}`,
          retryable: false,
        });
      const ranFrom = Date.now();
      const outputs = await handler(payload, {
        progress: (p, message) =>
          this.report({ ...base, type: 'progress', progress: p, ...(message ? { message } : {}), at: at() }),
        log: (level, message) => this.report({ ...base, type: 'log', level, message, at: at() }),
      });
      const ranMs = Date.now() - ranFrom;
      await this.report({ ...base, type: 'succeeded', outputs, artifactIds: [], ranMs, at: at() });
    } catch (e) {
      const error: JobError =
        e instanceof TestTaskFailure
          ? e.error
          : { code: 'TASK_FAILED', message: (e as Error).message, retryable: true };
      await this.report({ ...base, type: 'failed', error, at: at() });
    }
  }

  /**
   * Dies like a SIGKILLed worker: its connections drop at once, nothing is reported or handed back, its manifest
   * key and its jobs' locks are left to expire, and its active jobs stay active in BullMQ.
   */
  async kill(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const c of [...this.connections, this.redis]) c.disconnect();
    // the processors still running stay pending for good; closing only stops this process's timers
    await Promise.all(this.workers.map((w) => w.close(true).catch(() => undefined)));
  }

  /** Stops leasing and withdraws the manifest (like a worker that shut down). */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await Promise.all(this.workers.map((w) => w.close(true)));
    await Promise.all(this.connections.map((c) => c.quit().catch(() => undefined)));
    await this.redis
      .multi()
      .del(REDIS_KEYS.worker(this.id))
      .srem(REDIS_KEYS.workers, this.id)
      .exec()
      .catch(() => undefined);
    await this.redis.quit().catch(() => undefined);
  }
}
