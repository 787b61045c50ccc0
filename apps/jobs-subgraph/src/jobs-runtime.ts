import type { Redis } from 'ioredis';
import {
  assertIdentitySecret,
  createSubgraphAuth,
  type SubgraphAuth,
  RATE_LIMIT_SCRIPTS,
  ConnectionQuota,
  connectionSlotsKey,
  SharedSubscriptionSlots,
  SUBSCRIPTION_SLOT_SCRIPTS,
  SubscriptionQuota,
  type SubgraphAuthenticator,
} from '#libs/auth';
import { ByteBudgets } from '#libs/backpressure';
import {
  createRedis,
  type EvictionPolicyMonitor,
  LEASE_SCRIPTS,
  pingRedis,
  quitRedis,
  type RedisEvictionPolicyError,
  type RedisLogger,
  redisTarget,
  watchEvictionPolicy,
} from '#libs/redis';
import { unavailableWhenDisconnected } from '#libs/errors';
import type { JobsSubgraphConfig } from './jobs-config.js';
import {
  createClusterGauges,
  createEventMetrics,
  createJobsMetrics,
  createQuotaMetrics,
  createConnectionQuotaMetrics,
  createSubscriptionQuotaMetrics,
  parseEvictedKeys,
  parseInfoMemory,
} from './jobs-metrics.js';
import { createDispatchMetrics } from './dispatch-metrics.js';
import { plannerLimitsFrom } from './planner/planner-env.js';
import { WORKER_REGISTRY_SCRIPTS, WorkerRegistry } from './registry/worker-registry.js';
import { DEFAULT_TEMPLATES_DIR, TemplateRegistry } from './templates/template-registry.js';
import { BullmqEnqueuer } from './scheduler/bullmq-enqueuer.js';
import { liveActorsByClass } from './scheduler/live-actors.js';
import { JOB_KEYS } from './scheduler/keys.js';
import { JobRetention, MS_PER_DAY } from './scheduler/job-retention.js';
import { LeaderLoops } from './scheduler/leader-loops.js';
import { TenantUsageAudit } from './scheduler/tenant-usage-audit.js';
import { Reconciler } from './scheduler/reconciler.js';
import { ReplicaHeartbeat } from './scheduler/replica-liveness.js';
import { ReportConsumer } from './scheduler/report-consumer.js';
import { Scheduler } from './scheduler/scheduler.js';
import type { SchedulerLogger } from './scheduler/scheduler-ports.js';
import { SCHEDULER_SCRIPTS } from './scheduler/scripts.js';
import { JOB_VIEW_SCRIPTS } from './scheduler/job-views.js';
import { EventLog } from './events/event-log.js';
import { EventSubscriptions } from './events/job-events.js';
import { Wakeups } from './events/wakeups.js';
import { readOutagesOf } from './events/read-outages.js';
import { JobsService } from './service/jobs-service.js';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

/**
 * The subgraph's object graph, built from config (templates and Lua scripts are checked here: a bad one stops
 * the app with a clear message). `start()` starts the report consumer and the leader loops; `stop()` ends them
 * and closes every connection. Nest only wires this in.
 */
export class JobsRuntime {
  readonly service: JobsService;
  readonly identitySecret: string;
  /** Who may call the GraphQL endpoint (SUBGRAPH_ACCEPT); API keys are read from the command connection. */
  readonly authenticator: SubgraphAuthenticator;
  private readonly auth: SubgraphAuth;
  /** Live subscriptions of callers that did not come through our gateway; only when such callers are accepted. */
  readonly subscriptionQuota?: SubscriptionQuota;
  /** Direct callers' open graphql-ws connections per key (the same count as our gateway's clients'). */
  readonly connectionQuota?: ConnectionQuota;
  private readonly connectionSlots?: SharedSubscriptionSlots;
  private readonly subscriptionSlots?: SharedSubscriptionSlots;
  readonly production: boolean;
  /** A request failure means Redis is down (UNAVAILABLE) when the command connection is not ready. */
  readonly unavailable: (cause: unknown) => boolean;
  private readonly redis: Redis;
  private readonly reportsRedis: Redis;
  /** BullMQ's queues only (see BullmqEnqueuer): fails fast like the command connection, without auto-pipelining. */
  private readonly queuesRedis: Redis;
  private readonly subscriberRedis: Redis;
  private readonly enqueuer: BullmqEnqueuer;
  /** Redis' maxmemory-policy, read at each connection and on each scrape of the Redis gauges. */
  private readonly evictionPolicy: EvictionPolicyMonitor;
  private readonly consumer: ReportConsumer;
  private readonly leaderLoops: LeaderLoops;
  /** This replica's liveness key: the leases its dispatcher pops name it (ReplicaHeartbeat). */
  private readonly heartbeat: ReplicaHeartbeat;
  private stopped = false;

  /** `refuse`: how the app stops when production finds Redis evicting keys (main.ts: exit 78). */
  constructor(
    config: JobsSubgraphConfig,
    logger: SchedulerLogger & RedisLogger,
    refuse: (err: RedisEvictionPolicyError) => void,
  ) {
    this.production = config.NODE_ENV === 'production';
    this.identitySecret = assertIdentitySecret(
      config.SWITCHYARD_IDENTITY_SECRET,
      this.production,
      config.BIND_HOST,
    );
    const templates = TemplateRegistry.loadFromDir(config.TEMPLATES_DIR ?? DEFAULT_TEMPLATES_DIR);
    // Every Lua script this process runs is present and its includes resolve: fail here, not mid-transition.
    for (const scripts of [
      SCHEDULER_SCRIPTS,
      JOB_VIEW_SCRIPTS,
      WORKER_REGISTRY_SCRIPTS,
      LEASE_SCRIPTS,
      RATE_LIMIT_SCRIPTS,
      SUBSCRIPTION_SLOT_SCRIPTS,
    ])
      scripts.check();

    // request paths fail fast; the report stream and pub/sub wait through an outage
    // auto-pipelining: the commands of concurrent requests and transitions issued in one tick go out in one
    // write (per-command socket writes were the largest CPU item of the scheduler benchmark's profile)
    this.redis = createRedis({
      ...redisTarget(config),
      name: 'jobs',
      role: 'command',
      logger,
      extra: { enableAutoPipelining: true },
    });
    this.queuesRedis = createRedis({ ...redisTarget(config), name: 'jobs-queues', role: 'command', logger });
    this.unavailable = unavailableWhenDisconnected(this.redis, this.queuesRedis);
    // the other connections reach the same server: one check (and one log line per change) is enough
    this.evictionPolicy = watchEvictionPolicy(this.redis, {
      name: 'jobs',
      production: this.production,
      logger,
      refuse,
    });
    this.reportsRedis = createRedis({
      ...redisTarget(config),
      name: 'jobs-reports',
      role: 'blocking',
      logger,
    });
    this.subscriberRedis = createRedis({
      ...redisTarget(config),
      name: 'jobs-events',
      role: 'blocking',
      logger,
    });

    this.auth = createSubgraphAuth(config.auth, this.identitySecret, {
      redis: this.redis,
      redisTarget: redisTarget(config),
      subscriberName: 'jobs-key-revocations',
      logger,
    });
    this.authenticator = this.auth.authenticator;
    this.heartbeat = new ReplicaHeartbeat(this.redis, { ttlMs: config.SCHEDULER_REPLICA_TTL_MS, logger });
    // defined whoever may call, so the metric catalog is the same for every deployment
    const subscriptionQuotaMetrics = createSubscriptionQuotaMetrics();
    const connectionQuotaMetrics = createConnectionQuotaMetrics();
    if (config.auth.accept.some((m) => m !== 'gateway')) {
      // the per-key count is the same Redis set as our gateway's: one key has one bound however it comes in
      this.subscriptionSlots = new SharedSubscriptionSlots(this.redis, { logger });
      this.subscriptionQuota = new SubscriptionQuota(
        config.MAX_SUBSCRIPTIONS_PER_CONNECTION,
        config.MAX_SUBSCRIPTIONS_PER_KEY,
        this.subscriptionSlots,
        subscriptionQuotaMetrics,
      );
      this.connectionSlots = new SharedSubscriptionSlots(this.redis, {
        logger,
        redisKey: connectionSlotsKey,
      });
      this.connectionQuota = new ConnectionQuota(
        config.MAX_CONNECTIONS_PER_KEY,
        this.connectionSlots,
        connectionQuotaMetrics,
      );
    }
    this.enqueuer = new BullmqEnqueuer(
      this.redis,
      {
        dispatcherId: this.heartbeat.id,
        window: config.DISPATCH_WINDOW,
        lease: { max: config.DISPATCH_LEASE_MAX, targetMs: config.DISPATCH_LEASE_TARGET_MS },
        logger,
        metrics: createDispatchMetrics(() => this.enqueuer.stageDepth()),
      },
      this.queuesRedis,
    );
    const metrics = createJobsMetrics(() => this.enqueuer.depth());
    const scheduler = new Scheduler({
      redis: this.redis,
      enqueuer: this.enqueuer,
      config: {
        backoff: config.backoff,
        jobDeadlineMs: config.JOB_DEADLINE_MS,
        quotas: {
          maxActiveJobs: config.TENANT_MAX_ACTIVE_JOBS,
          maxQueuedNodes: config.TENANT_MAX_QUEUED_NODES,
          maxStoredBytes: config.TENANT_MAX_STORED_BYTES,
          maxArtifacts: config.TENANT_MAX_ARTIFACTS,
        },
        jobLogMaxBytes: config.JOB_LOG_MAX_BYTES,
      },
      logger,
      metrics,
    });
    const registry = new WorkerRegistry(this.redis, logger);
    const retention = new JobRetention(
      this.redis,
      this.enqueuer,
      {
        retentionMs: config.JOB_RETENTION_DAYS * MS_PER_DAY,
        batchSize: config.JOB_RETENTION_BATCH,
        passMaxMs: config.JOB_RETENTION_PASS_MAX_MS,
      },
      logger,
      metrics,
    );
    createClusterGauges({
      deadLetter: () => this.redis.zcard(JOB_KEYS.deadLetter),
      retentionDue: () => retention.due(),
      actors: async () => (await registry.liveWorkers()).flatMap((w) => w.actors),
      redisInfo: async () => {
        const [memory, stats] = await Promise.all([this.redis.info('memory'), this.redis.info('stats')]);
        const info = { ...parseInfoMemory(memory), evictedKeys: parseEvictedKeys(stats) };
        // a policy changed at run time (CONFIG SET) is logged here, once per change
        this.evictionPolicy.observe(info.policy);
        return info;
      },
    });
    const readahead =
      config.SUBSCRIBER_READAHEAD_BYTES_PER_TENANT > 0 || config.SUBSCRIBER_READAHEAD_BYTES_TOTAL > 0
        ? new ByteBudgets({
            perOwner: config.SUBSCRIBER_READAHEAD_BYTES_PER_TENANT,
            total: config.SUBSCRIBER_READAHEAD_BYTES_TOTAL,
          })
        : undefined;
    const eventMetrics = createEventMetrics(
      () => outages.waiting,
      () => readahead?.total ?? 0,
    );
    // followers read through the command connection: through its outages they wait (bounded) instead of ending
    const outages = readOutagesOf(this.redis, {
      maxOutageMs: config.SUBSCRIBER_REDIS_OUTAGE_MS,
      logger,
      metrics: eventMetrics,
    });
    const subscriptions = new EventSubscriptions(
      new EventLog(this.redis),
      new Wakeups(this.subscriberRedis, logger),
      {
        bufferCapacity: config.SUBSCRIBER_BUFFER,
        onDelivered: eventMetrics.delivered,
        outages,
        readahead,
      },
    );
    const quotaMetrics = createQuotaMetrics();
    this.service = new JobsService(scheduler, registry, templates, subscriptions, {
      planner: plannerLimitsFrom(config),
      labels: { maxBytes: config.LABELS_MAX_BYTES, maxKeys: config.LABELS_MAX_KEYS },
      maxPageSize: config.JOBS_PAGE_MAX,
      onQuotaRefused: (quota) => quotaMetrics.refused(quota),
    });
    this.consumer = new ReportConsumer(
      this.reportsRedis,
      scheduler,
      logger,
      { claimIdleMs: config.REPORT_CLAIM_IDLE_MS },
      metrics,
      this.redis,
    );
    const reconciler = new Reconciler(
      this.redis,
      scheduler,
      this.enqueuer,
      async () => (await registry.catalog()).loads(),
      { scheduleToStartMs: config.SCHEDULE_TO_START_MS, closeGraceMs: config.ATTEMPT_CLOSE_GRACE_MS },
      logger,
      metrics,
    );
    this.leaderLoops = new LeaderLoops(
      this.redis,
      reconciler,
      { leaseTtlMs: config.SCHEDULER_LEASE_MS, reconcileIntervalMs: config.RECONCILE_INTERVAL_MS },
      logger,
      {
        // the recorded actor counts outlive a few passes, so a leader change keeps the raised window
        maintainDispatch: async () =>
          this.enqueuer.maintain(
            liveActorsByClass(await registry.liveWorkers()),
            Math.max(15_000, 3 * config.RECONCILE_INTERVAL_MS),
          ),
        retention,
        usageAudit: new TenantUsageAudit(this.redis, logger, (n) => quotaMetrics.usageRepaired(n)),
      },
    );
  }

  start(): void {
    void this.auth.start();
    this.consumer.start();
    // Beat and compete for the lease once Redis answers, so an ordinary boot logs no failed renewal.
    const started = () => {
      this.heartbeat.start();
      this.leaderLoops.start();
    };
    if (this.redis.status === 'ready') started();
    else this.redis.once('ready', () => this.stopped || started());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.leaderLoops.stop();
    await this.consumer.stop();
    await this.enqueuer.close().catch(() => undefined);
    // after the enqueuer: this replica adds nothing more, so the leader may re-add its lost leases at once
    await this.heartbeat.stop();
    await this.auth.close();
    await this.subscriptionSlots?.close();
    await this.connectionSlots?.close();
    await Promise.all(
      [this.redis, this.queuesRedis, this.subscriberRedis, this.reportsRedis].map((r) => quitRedis(r)),
    );
  }

  readiness(): ReadinessCheck[] {
    return [
      { name: 'redis', check: () => pingRedis(this.redis) },
      { name: 'redis-queues', check: () => pingRedis(this.queuesRedis) },
    ];
  }
}
