import { z } from 'zod';
import { connectionQuotaEnv, subgraphAuthEnv, subgraphAuthSettings, subscriptionQuotaEnv } from '#libs/auth';
import { SUBSCRIBER_BUFFER_DEFAULT } from '#libs/backpressure';
import {
  artifactQuotaEnv,
  ConfigError,
  isProduction,
  loadConfig,
  nonNegativeInt,
  portsEnv,
  positiveInt,
  redisEnv,
  runtimeEnv,
} from '#libs/config';
import { LEASE_MAX_ATTEMPTS } from '#libs/contracts';
import { DEFAULT_MAX_OUTAGE_MS } from './events/read-outages.js';
import { plannerEnv } from './planner/planner-env.js';
import { DEFAULT_LEASE } from './scheduler/fair-dispatcher.js';
import { DEFAULT_CLOSE_GRACE_MS } from './scheduler/reconciler.js';
import { RETENTION_PASS_MAX_MS } from './scheduler/job-retention.js';
import { DEFAULT_REPLICA_TTL_MS } from './scheduler/replica-liveness.js';
import { DEFAULT_JOB_LOG_MAX_BYTES } from './scheduler/scheduler.js';
import { DEFAULT_TENANT_QUOTAS } from './scheduler/tenant-quotas.js';
import { DEFAULT_LABEL_LIMITS } from './service/submission-limits.js';
import { MAX_PAGE_SIZE } from './service/jobs-service.js';

/** Scheduler, events and subscription settings (durations in ms). */
export const schedulerEnv = {
  /** Delay before the first retry; doubles per failure (with jitter) up to the cap. */
  SCHEDULER_BACKOFF_BASE_MS: positiveInt(1_000),
  SCHEDULER_BACKOFF_CAP_MS: positiveInt(60_000),
  /** A node no worker started within this fails UNSCHEDULABLE. */
  SCHEDULE_TO_START_MS: positiveInt(300_000),
  /** A job not finished within this after submit (or retry) fails DEADLINE_EXCEEDED. */
  JOB_DEADLINE_MS: positiveInt(24 * 3_600_000),
  /**
   * Start-to-close backstop: an attempt still running this long past its start plus its timeout fails TIMEOUT
   * (retryable) in the leader's pass, even on a worker that looks alive (its supervisor should have ended it).
   */
  ATTEMPT_CLOSE_GRACE_MS: positiveInt(DEFAULT_CLOSE_GRACE_MS),
  /** How often the leader reconciles and checks deadlines. */
  RECONCILE_INTERVAL_MS: positiveInt(5_000),
  /** The leader lease; a dead leader is replaced within this. */
  SCHEDULER_LEASE_MS: positiveInt(10_000),
  /**
   * A replica's liveness key TTL (renewed every third of it): a lease a replica popped but never added to the
   * node queue is re-added by the leader's next pass once this has passed since the replica's last renewal
   * (else after 30 s). At least 300 ms: renewals are timers on an event loop that also serves requests.
   */
  SCHEDULER_REPLICA_TTL_MS: z.coerce
    .number({ message: 'expected a number' })
    .int('expected an integer')
    .min(300, 'expected at least 300 (ms)')
    .default(DEFAULT_REPLICA_TTL_MS),
  /** Reports pending this long on a dead replica are claimed by a live one. */
  REPORT_CLAIM_IDLE_MS: positiveInt(30_000),
  /** Events buffered per subscriber (NODE_PROGRESS coalesces past half of it). */
  SUBSCRIBER_BUFFER: positiveInt(SUBSCRIBER_BUFFER_DEFAULT),
  /**
   * Bytes of events (about their JSON's length) the followers of one tenant's subscriptions may have read from
   * Redis ahead of what their clients took; past it a follower holds back until its client takes what it has (one
   * with nothing buffered reads 8 events at a time). Nothing is dropped: the rest stays in the stream. 0: no bound.
   */
  SUBSCRIBER_READAHEAD_BYTES_PER_TENANT: nonNegativeInt(16 * 1024 * 1024),
  /**
   * The same for every tenant together; once reached, the tenants above an equal share hold back. 0: no bound.
   * 64 MiB: the events' objects take ≈ 3× that in the heap, within the compose file's 768 MiB per subgraph.
   */
  SUBSCRIBER_READAHEAD_BYTES_TOTAL: nonNegativeInt(64 * 1024 * 1024),
  /** How long a live subscriber waits for Redis to come back (reading again) before it ends with UNAVAILABLE. */
  SUBSCRIBER_REDIS_OUTAGE_MS: positiveInt(DEFAULT_MAX_OUTAGE_MS),
  /** Finished jobs (and all their keys but artifacts) are deleted this many days after finishing; 0 keeps them. */
  JOB_RETENTION_DAYS: nonNegativeInt(30),
  /** Finished jobs the retention sweep takes per batch (one range read, then their deletions side by side). */
  JOB_RETENTION_BATCH: positiveInt(100),
  /**
   * How long one leader pass keeps deleting batches of due finished jobs (ms); 0 = one batch per pass. The
   * leader's next reconcile (deadlines, repairs) waits for the pass, so it is delayed by at most this.
   */
  JOB_RETENTION_PASS_MAX_MS: nonNegativeInt(RETENTION_PASS_MAX_MS),
  /**
   * Fair share: node attempts that may wait in each resource class's node queue at once (raised to the number
   * of live actors of the class); the rest wait in the fair-share stage, round robin over tenants.
   */
  DISPATCH_WINDOW: positiveInt(8),
  /**
   * Leases (docs/decisions/0007-dispatch-cost-per-attempt.md): most attempts one node-queue job may carry when more
   * are ready than the window has room for; 1 turns leases off. Workers must read leases (this release's do).
   */
  DISPATCH_LEASE_MAX: z.coerce
    .number({ message: 'expected a number' })
    .int('expected an integer')
    .min(1, `expected 1 (no leases) to ${LEASE_MAX_ATTEMPTS}`)
    .max(LEASE_MAX_ATTEMPTS, `expected 1 (no leases) to ${LEASE_MAX_ATTEMPTS}`)
    .default(8),
  /** How long the attempts of one lease should take to run together (ms): longer tasks get smaller leases. */
  DISPATCH_LEASE_TARGET_MS: positiveInt(DEFAULT_LEASE.targetMs),
};

/** Per-tenant quotas and read bounds (docs/security.md, "Quotas"). */
export const quotaEnv = {
  /** Unfinished (QUEUED/RUNNING) jobs per tenant; submitJob and retryJob past it answer QUOTA_EXCEEDED. */
  TENANT_MAX_ACTIVE_JOBS: positiveInt(DEFAULT_TENANT_QUOTAS.maxActiveJobs),
  /** Unfinished nodes of a tenant's unfinished jobs. */
  TENANT_MAX_QUEUED_NODES: positiveInt(DEFAULT_TENANT_QUOTAS.maxQueuedNodes),
  /**
   * TENANT_MAX_STORED_BYTES and TENANT_MAX_ARTIFACTS: the artifacts subgraph's quotas (same names, schema and
   * defaults, #libs/config; 0 = off). A tenant at or over one submits and retries no job until it deletes
   * artifacts or retention frees them. Give both apps the same values.
   */
  ...artifactQuotaEnv,
  /** Bytes of a job's labels as JSON (they also count in PLANNER_MAX_INPUT_BYTES). */
  LABELS_MAX_BYTES: positiveInt(DEFAULT_LABEL_LIMITS.maxBytes),
  /** Top-level keys of a job's labels. */
  LABELS_MAX_KEYS: positiveInt(DEFAULT_LABEL_LIMITS.maxKeys),
  /** Largest `first` of a `jobs` page; more answers BAD_USER_INPUT. */
  JOBS_PAGE_MAX: positiveInt(MAX_PAGE_SIZE),
  /**
   * Bytes of log events and progress messages one job may hold in Redis (its attempts together, retries
   * included); past it one truncation event, then its lines are dropped (switchyard_job_log_events_dropped_total)
   * and its progress events kept without their message. 0 = no budget (the log's 10,000-event trim only: up to
   * ~80 MB a job).
   */
  JOB_LOG_MAX_BYTES: nonNegativeInt(DEFAULT_JOB_LOG_MAX_BYTES),
};

export const jobsSubgraphEnv = {
  ...runtimeEnv,
  ...redisEnv,
  ...portsEnv,
  ...plannerEnv,
  ...schedulerEnv,
  ...quotaEnv,
  ...subgraphAuthEnv,
  /**
   * Live subscriptions of a caller that did not come through our gateway (api-key, jwt): per graphql-ws connection,
   * and per key across replicas and our gateway (the gateway's names and defaults; our gateway's own connections
   * are bounded there).
   */
  ...subscriptionQuotaEnv,
  /** Open graphql-ws connections of one API key, direct callers and our gateway's clients counted together. */
  ...connectionQuotaEnv,
};

/**
 * The environment, parsed and compiled: `auth` is who may call (SUBGRAPH_ACCEPT and its settings, checked
 * together); `backoff` the retry delays, whose base may not exceed their cap.
 */
export function loadJobsSubgraphConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadConfig(jobsSubgraphEnv, env);
  if (c.SCHEDULER_BACKOFF_BASE_MS > c.SCHEDULER_BACKOFF_CAP_MS)
    throw new ConfigError([
      {
        variable: 'SCHEDULER_BACKOFF_BASE_MS',
        expected: `at most SCHEDULER_BACKOFF_CAP_MS (${c.SCHEDULER_BACKOFF_CAP_MS}), got ${c.SCHEDULER_BACKOFF_BASE_MS}`,
      },
    ]);
  return {
    ...c,
    auth: subgraphAuthSettings(c, isProduction(c)),
    backoff: { baseMs: c.SCHEDULER_BACKOFF_BASE_MS, capMs: c.SCHEDULER_BACKOFF_CAP_MS },
  };
}
export type JobsSubgraphConfig = ReturnType<typeof loadJobsSubgraphConfig>;
