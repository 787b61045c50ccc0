import { metrics, SECONDS_BUCKETS } from '#libs/observability';
import type { SubscriptionQuotaEvents } from '#libs/auth';
import { ActorState, ResourceClass, type JobEvent } from '#libs/contracts';
import { parseMaxmemoryPolicy, SAFE_EVICTION_POLICY } from '#libs/redis';
import type { SchedulerMetrics } from './scheduler/scheduler-ports.js';
import type { QuotaName } from './scheduler/tenant-quotas.js';

/** Counters of the per-tenant quotas (docs/security.md). */
export interface QuotaMetrics {
  refused(quota: QuotaName): void;
  usageRepaired(tenants: number): void;
}

export function createQuotaMetrics(): QuotaMetrics {
  const refusals = metrics.counter({
    name: 'switchyard_quota_refusals_total',
    help: 'Requests refused with QUOTA_EXCEEDED, by quota (activeJobs, queuedNodes, labelBytes, labelKeys, storedBytes, artifacts)',
    labelNames: ['quota'] as const,
  });
  const repairs = metrics.counter({
    name: 'switchyard_quota_usage_repairs_total',
    help: "Tenants whose quota bookkeeping the leader's audit found wrong and repaired",
  });
  return { refused: (quota) => refusals.inc({ quota }), usageRepaired: (n) => repairs.inc(n) };
}

/**
 * Subscriptions of direct callers (api-key, jwt) refused by the subscription quota (RATE_LIMITED), by the bound
 * that refused them (`extensions.limit`); our gateway counts its own clients' in switchyard_gateway_refused_total.
 */
export function createSubscriptionQuotaMetrics(): Required<SubscriptionQuotaEvents> {
  const refusals = metrics.counter({
    name: 'switchyard_subscription_quota_refusals_total',
    help: 'Subscriptions of direct callers refused RATE_LIMITED by the subscription quota, by limit',
    labelNames: ['limit'] as const,
  });
  return { refused: (limit) => refusals.inc({ limit }) };
}

/** Direct callers' graphql-ws connections closed 1013 by MAX_CONNECTIONS_PER_KEY (or its store unreachable). */
export function createConnectionQuotaMetrics(): { refused(reason: string): void } {
  const refusals = metrics.counter({
    name: 'switchyard_connection_quota_refusals_total',
    help: 'graphql-ws connections of direct callers closed by the per-key connection bound, by reason',
    labelNames: ['reason'] as const,
  });
  return { refused: (reason) => refusals.inc({ reason }) };
}

/** The scheduler's counters and the node queue depth gauge, on the process's one registry. */
export function createJobsMetrics(
  queueDepth: () => Promise<Record<ResourceClass, number>>,
): SchedulerMetrics {
  const submitted = metrics.counter({
    name: 'switchyard_jobs_submitted_total',
    help: 'Jobs submitted (new, not idempotent repeats)',
  });
  const finished = metrics.counter({
    name: 'switchyard_jobs_finished_total',
    help: 'Jobs that reached a terminal status',
    labelNames: ['status'] as const,
  });
  const reports = metrics.counter({
    name: 'switchyard_node_reports_total',
    help: 'Worker reports read, by type and outcome (applied, stale, rejected)',
    labelNames: ['type', 'outcome'] as const,
  });
  const reconciler = metrics.counter({
    name: 'switchyard_reconciler_actions_total',
    help: 'Repairs and deadline failures made by the reconciler',
    labelNames: ['action'] as const,
  });
  const purged = metrics.counter({
    name: 'switchyard_jobs_purged_total',
    help: 'Finished jobs deleted by the retention sweep (JOB_RETENTION_DAYS)',
  });
  const logDropped = metrics.counter({
    name: 'switchyard_job_log_events_dropped_total',
    help: "Log lines not appended to their job's events: the job's log budget (JOB_LOG_MAX_BYTES) was spent",
  });
  metrics.gauge({
    name: 'switchyard_node_queue_depth',
    help: 'Jobs waiting in the node queue of each resource class (waiting, prioritized, delayed); a lease of several attempts counts once',
    labelNames: ['resource_class'] as const,
    async collect() {
      try {
        for (const [rc, n] of Object.entries(await queueDepth())) this.set({ resource_class: rc }, n);
      } catch {
        // Redis unreachable: keep the last values; readiness reports the outage
      }
    },
  });
  const scheduleToStart = metrics.histogram({
    name: 'switchyard_node_schedule_to_start_seconds',
    help: 'Time from a node becoming eligible (queued, or its retry backoff over) to its attempt starting',
    buckets: SECONDS_BUCKETS.slow,
  });
  return {
    attemptStarted: (ms) => scheduleToStart.observe(ms / 1000),
    jobSubmitted: () => submitted.inc(),
    jobFinished: (status) => finished.inc({ status }),
    reportApplied: (type, outcome) => reports.inc({ type, outcome }),
    reconcilerAction: (action) => reconciler.inc({ action }),
    jobsPurged: (count) => purged.inc(count),
    logEventDropped: () => logDropped.inc(),
  };
}

/** What the cluster-wide gauges read from Redis on each scrape (jobs-runtime wires them). */
export interface ClusterProbes {
  /** Jobs in the dead-letter set (FAILED, not yet retried or purged). */
  deadLetter(): Promise<number>;
  /** Finished jobs past JOB_RETENTION_DAYS not deleted yet (JobRetention.due); 0 when retention is off. */
  retentionDue(): Promise<number>;
  /** Actors of the live workers, from their manifests. */
  actors(): Promise<{ resourceClass: ResourceClass; state: ActorState }[]>;
  /** Redis INFO memory and stats (see RedisInfo). */
  redisInfo(): Promise<RedisInfo>;
}

/** What the Redis gauges show, from one INFO memory and one INFO stats. */
export interface RedisInfo {
  /** used_memory */
  used: number;
  /** maxmemory (0: no limit) */
  max: number;
  /** maxmemory_policy; null when Redis does not report it */
  policy: string | null;
  /** evicted_keys: keys Redis dropped to make room since it started */
  evictedKeys: number;
}

/**
 * Gauges of shared state, sampled on scrape. Every jobs replica reports the same values: dashboards and
 * alerts take max() over replicas. A failed read keeps the last value, and switchyard_redis_up says why.
 */
export function createClusterGauges(probes: ClusterProbes): void {
  metrics.gauge({
    name: 'switchyard_jobs_dead_letter',
    help: 'Jobs in the dead-letter set (failed, not retried or purged yet)',
    async collect() {
      const n = await probes.deadLetter().catch(() => null);
      if (n !== null) this.set(n);
    },
  });
  metrics.gauge({
    name: 'switchyard_jobs_retention_due',
    help: 'Finished jobs past JOB_RETENTION_DAYS not deleted yet: those since the last leader pass, plus any backlog',
    async collect() {
      const n = await probes.retentionDue().catch(() => null);
      if (n !== null) this.set(n);
    },
  });
  metrics.gauge({
    name: 'switchyard_cluster_actors',
    help: 'Actors of the live workers (from their manifests), by resource class and state',
    labelNames: ['resource_class', 'state'] as const,
    async collect() {
      const actors = await probes.actors().catch(() => null);
      if (!actors) return;
      for (const rc of ResourceClass.options)
        for (const state of ActorState.options)
          this.set(
            { resource_class: rc, state },
            actors.filter((a) => a.resourceClass === rc && a.state === state).length,
          );
    },
  });
  // The Redis gauges are collected concurrently on a scrape: they share one read.
  let reading: Promise<RedisInfo> | null = null;
  const memory = () =>
    (reading ??= probes.redisInfo().finally(() => {
      reading = null;
    }));
  metrics.gauge({
    name: 'switchyard_redis_up',
    help: '1 when Redis answered INFO at the last scrape, 0 otherwise',
    async collect() {
      this.set(
        await memory().then(
          () => 1,
          () => 0,
        ),
      );
    },
  });
  metrics.gauge({
    name: 'switchyard_redis_memory_used_bytes',
    help: 'Redis used_memory (INFO memory)',
    async collect() {
      const m = await memory().catch(() => null);
      if (m) this.set(m.used);
    },
  });
  metrics.gauge({
    name: 'switchyard_redis_memory_max_bytes',
    help: 'Redis maxmemory (INFO memory); 0 means no limit',
    async collect() {
      const m = await memory().catch(() => null);
      if (m) this.set(m.max);
    },
  });
  metrics.gauge({
    name: 'switchyard_redis_eviction_policy_ok',
    help: `1 when Redis' maxmemory-policy (INFO memory) is ${SAFE_EVICTION_POLICY}, 0 otherwise (it evicts, or is not reported: policy="unknown")`,
    labelNames: ['policy'] as const,
    async collect() {
      const m = await memory().catch(() => null);
      if (!m) return;
      // one series, for the policy read now: a changed policy leaves no stale series behind
      this.reset();
      this.set({ policy: m.policy ?? 'unknown' }, m.policy === SAFE_EVICTION_POLICY ? 1 : 0);
    },
  });
  metrics.gauge({
    name: 'switchyard_redis_evicted_keys',
    help: 'Redis evicted_keys (INFO stats): keys Redis dropped to make room since it started; above 0 means lost state',
    async collect() {
      const m = await memory().catch(() => null);
      if (m) this.set(m.evictedKeys);
    },
  });
}

/** One `<name>:<integer>` line of an INFO section. */
function infoNumber(info: string, section: string, name: string): number {
  const m = new RegExp(`^${name}:(\\d+)\\r?$`, 'm').exec(info);
  if (!m) throw new Error(`INFO ${section} has no ${name}`);
  return Number(m[1]);
}

/** Parses the `used_memory`, `maxmemory` and `maxmemory_policy` lines of INFO memory. */
export function parseInfoMemory(info: string): { used: number; max: number; policy: string | null } {
  return {
    used: infoNumber(info, 'memory', 'used_memory'),
    max: infoNumber(info, 'memory', 'maxmemory'),
    policy: parseMaxmemoryPolicy(info),
  };
}

/** Parses the `evicted_keys` line of INFO stats. */
export function parseEvictedKeys(info: string): number {
  return infoNumber(info, 'stats', 'evicted_keys');
}

/** Event delivery to subscribers (jobEvents, jobFeed). */
export interface EventMetrics {
  /** A live event (written after the subscriber attached) was handed to the subscriber. */
  delivered(stream: 'job' | 'feed', event: JobEvent): void;
  /** A subscriber waited for Redis longer than SUBSCRIBER_REDIS_OUTAGE_MS and ended with UNAVAILABLE. */
  endedUnavailable(): void;
}

/** `waitingForRedis`: live subscribers waiting for Redis to come back now (ReadOutages). */
export function createEventMetrics(
  waitingForRedis: () => number,
  readaheadBytes: () => number,
): EventMetrics {
  const lag = metrics.histogram({
    name: 'switchyard_event_delivery_lag_seconds',
    help: 'Time from an event being written (its `at`) to its delivery to a subscriber, by stream',
    labelNames: ['stream'] as const,
    buckets: SECONDS_BUCKETS.fast,
  });
  metrics.gauge({
    name: 'switchyard_event_subscribers_waiting_for_redis',
    help: 'Live jobEvents/jobFeed subscribers whose read failed because Redis is unavailable, waiting to read again',
    collect() {
      this.set(waitingForRedis());
    },
  });
  metrics.gauge({
    name: 'switchyard_event_readahead_bytes',
    help: 'Bytes of events read from Redis for jobEvents/jobFeed subscribers and not yet taken by them: what SUBSCRIBER_READAHEAD_BYTES_TOTAL bounds',
    collect() {
      this.set(readaheadBytes());
    },
  });
  const unavailable = metrics.counter({
    name: 'switchyard_event_subscribers_unavailable_total',
    help: 'Live subscribers ended with UNAVAILABLE: Redis stayed away longer than SUBSCRIBER_REDIS_OUTAGE_MS',
  });
  return {
    endedUnavailable: () => unavailable.inc(),
    delivered: (stream, event) => {
      const at = Date.parse(event.at);
      if (Number.isFinite(at)) lag.observe({ stream }, Math.max(0, Date.now() - at) / 1000);
    },
  };
}
