import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { BULLMQ_PREFIX, NODE_QUEUES, type ResourceClass } from '#libs/contracts';
import { TemplateRegistry, DEFAULT_TEMPLATES_DIR } from '../src/templates/template-registry.js';
import { WorkerRegistry } from '../src/registry/worker-registry.js';
import { Scheduler } from '../src/scheduler/scheduler.js';
import { BullmqEnqueuer } from '../src/scheduler/bullmq-enqueuer.js';
import { ReportConsumer } from '../src/scheduler/report-consumer.js';
import { Reconciler } from '../src/scheduler/reconciler.js';
import { ReplicaHeartbeat } from '../src/scheduler/replica-liveness.js';
import { EventLog } from '../src/events/event-log.js';
import { Wakeups } from '../src/events/wakeups.js';
import { EventSubscriptions } from '../src/events/job-events.js';
import { JobsService, type JobsServiceOptions } from '../src/service/jobs-service.js';
import type { TenantQuotas } from '../src/scheduler/tenant-quotas.js';
import type { SchedulerLogger, SchedulerMetrics } from '../src/scheduler/scheduler-ports.js';
import type { DispatchMetrics } from '../src/scheduler/fair-dispatcher.js';

export const quietLogger = (): SchedulerLogger & {
  lines: Array<{ level: string; msg: string; fields: object }>;
} => {
  const lines: Array<{ level: string; msg: string; fields: object }> = [];
  const log = (level: string) => (fields: object, msg: string) => {
    lines.push({ level, msg, fields });
    if (process.env.TEST_LOG === '1') console.log(level, msg, JSON.stringify(fields));
  };
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
};

export interface CoreHarness {
  redis: Redis;
  scheduler: Scheduler;
  service: JobsService;
  consumer: ReportConsumer;
  reconciler: Reconciler;
  enqueuer: BullmqEnqueuer;
  /** This core's liveness key (the leases its enqueuer pops name it), renewed until close(). */
  heartbeat: ReplicaHeartbeat;
  logger: ReturnType<typeof quietLogger>;
  close(): Promise<void>;
}

/** The jobs subgraph's core wired in-process against a real Redis, as the app wires it (minus GraphQL). */
export async function startCore(
  url: string,
  opts: {
    scheduleToStartMs?: number;
    jobDeadlineMs?: number;
    backoffBaseMs?: number;
    startConsumer?: boolean;
    claimIdleMs?: number;
    quotas?: TenantQuotas;
    /** The per-job budget of log event bytes (the app's JOB_LOG_MAX_BYTES; 0 = off); default the app's. */
    jobLogMaxBytes?: number;
    service?: JobsServiceOptions;
    /** Fair-share dispatch window per resource class (the app's DISPATCH_WINDOW). */
    dispatchWindow?: number;
    /** Leases (the app's DISPATCH_LEASE_MAX / DISPATCH_LEASE_TARGET_MS); default: none. */
    lease?: { max: number; targetMs: number };
    /** What the fair stage reports of its dispatches (the app's Prometheus metrics); default: nothing. */
    dispatchMetrics?: DispatchMetrics;
    /** The reconciler's clock. */
    now?: () => number;
    /** What the scheduler and its reconciler report (the app's Prometheus metrics); default: nothing. */
    metrics?: SchedulerMetrics;
    /** The replica liveness TTL (the app's SCHEDULER_REPLICA_TTL_MS); default 3000. */
    replicaTtlMs?: number;
    /** The reconciler's start-to-close backstop grace (the app's ATTEMPT_CLOSE_GRACE_MS); default 60000. */
    closeGraceMs?: number;
  } = {},
): Promise<CoreHarness> {
  const logger = quietLogger();
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const blocking = new Redis(url, { maxRetriesPerRequest: null });
  const subscriber = new Redis(url, { maxRetriesPerRequest: null });
  const heartbeat = new ReplicaHeartbeat(redis, { ttlMs: opts.replicaTtlMs ?? 3_000, logger });
  heartbeat.start();
  const enqueuer = new BullmqEnqueuer(redis, {
    dispatcherId: heartbeat.id,
    logger,
    window: opts.dispatchWindow,
    ...(opts.lease ? { lease: opts.lease } : {}),
    ...(opts.dispatchMetrics ? { metrics: opts.dispatchMetrics } : {}),
  });
  const scheduler = new Scheduler({
    redis,
    enqueuer,
    config: {
      backoff: { baseMs: opts.backoffBaseMs ?? 50, capMs: 1_000 },
      jobDeadlineMs: opts.jobDeadlineMs ?? 600_000,
      ...(opts.quotas ? { quotas: opts.quotas } : {}),
      ...(opts.jobLogMaxBytes !== undefined ? { jobLogMaxBytes: opts.jobLogMaxBytes } : {}),
    },
    logger,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  });
  const registry = new WorkerRegistry(redis);
  const templates = TemplateRegistry.loadFromDir(DEFAULT_TEMPLATES_DIR);
  const wakeups = new Wakeups(subscriber, logger);
  const subscriptions = new EventSubscriptions(new EventLog(redis), wakeups, { bufferCapacity: 256 });
  const service = new JobsService(scheduler, registry, templates, subscriptions, opts.service);
  const consumer = new ReportConsumer(blocking, scheduler, logger, {
    blockMs: 1_000,
    claimIdleMs: opts.claimIdleMs ?? 5_000,
  });
  const reconciler = new Reconciler(
    redis,
    scheduler,
    enqueuer,
    async () => (await registry.catalog()).loads(),
    {
      scheduleToStartMs: opts.scheduleToStartMs ?? 60_000,
      ...(opts.closeGraceMs !== undefined ? { closeGraceMs: opts.closeGraceMs } : {}),
    },
    logger,
    opts.metrics,
    opts.now,
  );
  if (opts.startConsumer !== false) consumer.start();
  return {
    redis,
    scheduler,
    service,
    consumer,
    reconciler,
    enqueuer,
    heartbeat,
    logger,
    async close() {
      await consumer.stop();
      await enqueuer.close();
      await heartbeat.stop();
      subscriber.disconnect();
      await redis.quit();
    },
  };
}

/** A BullMQ handle on a node queue, as the scheduler and workers name it (prefix included), for inspection. */
export const nodeQueue = (rc: ResourceClass, connection: Redis): Queue =>
  new Queue(NODE_QUEUES[rc], { connection, prefix: BULLMQ_PREFIX });

/**
 * Every core's reconciler passing again and again at once (replicas racing, as leaders in turn would), until the
 * returned stop() (which waits for the passes under way).
 */
export function raceReconcilers(cores: readonly CoreHarness[]): { stop(): Promise<void> } {
  let racing = true;
  const loop = (async () => {
    while (racing) {
      await Promise.all(cores.map((c) => c.reconciler.reconcileOnce()));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      racing = false;
      await loop;
    },
  };
}

/** The leader's loop, much shortened: a pass every 100 ms until stop() (specs of the reconciler's repairs). */
export function leaderPasses(core: CoreHarness): { actions: number; stop(): Promise<void> } {
  let running = true;
  const loop = {
    actions: 0,
    stop: async () => {
      running = false;
      await passes;
    },
  };
  const passes = (async () => {
    while (running) {
      loop.actions += (await core.reconciler.reconcileOnce()).actions;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return loop;
}
