import { createHash } from 'node:crypto';
import { REDIS_KEYS, REDIS_PREFIX, cancelledJobKey } from '#libs/contracts';

/**
 * Keys owned by the jobs subgraph (the scheduler writes them, the GraphQL layer reads them). Keys another process
 * touches (job and node hashes, artifacts, cancel marker) come from #libs/contracts.
 */
export const JOB_KEYS = {
  job: REDIS_KEYS.job,
  node: REDIS_KEYS.node,
  /**
   * The job's event log: a list of compact JSON events (lua/includes/common.lua), read by events/event-log.ts.
   * Its wake-ups go to the tenant's channel (`feed`), topic = the job id.
   */
  eventLog: (jobId: string) => `${REDIS_KEYS.job(jobId)}:log`,
  /** The event stream of jobs written before the event log became a list (read as a fallback, purged). */
  events: (jobId: string) => `${REDIS_KEYS.job(jobId)}:events`,
  /**
   * Prefix of every per-tenant key. The Lua transitions derive it from the job's `feedKey` (this prefix + ":feed"),
   * so `feed`, `tenantJobs`, the indexes and `tenantUsage` must stay built on it.
   */
  tenant: (tenant: string) => `${REDIS_PREFIX}:tenant:${tenant}`,
  /**
   * The tenant's JOB_* event stream; the same name is the tenant's wake-up channel: one message per transition
   * naming the job id, plus "feed" when the feed got an entry (events/wakeups.ts).
   */
  feed: (tenant: string) => `${REDIS_PREFIX}:tenant:${tenant}:feed`,
  /** Sorted set of the tenant's job ids by createdAt (ms), for `jobs` pagination. */
  tenantJobs: (tenant: string) => `${REDIS_PREFIX}:tenant:${tenant}:jobs`,
  /** The tenant's job ids with this status, by createdAt (ms): kept by every status change. */
  tenantJobsByStatus: (tenant: string, status: string) =>
    `${REDIS_PREFIX}:tenant:${tenant}:jobs:status:${status}`,
  /** The tenant's jobs made from this template, by createdAt (ms). */
  tenantJobsByTemplate: (tenant: string, template: string) =>
    `${REDIS_PREFIX}:tenant:${tenant}:jobs:template:${template}`,
  /** Both filters at once: the tenant's jobs from this template with this status, by createdAt (ms). */
  tenantJobsByTemplateStatus: (tenant: string, template: string, status: string) =>
    `${REDIS_PREFIX}:tenant:${tenant}:jobs:template:${template}:status:${status}`,
  /** Hash of the tenant's quota usage: `openNodes` (unfinished nodes of its unfinished jobs). */
  tenantUsage: (tenant: string) => `${REDIS_PREFIX}:tenant:${tenant}:usage`,
  /**
   * Stands in for the idempotency key of a job without one: never read or written (the scripts check the job's
   * fields), but a real key in the same hash slot, as Redis Cluster wants of every key a script is given.
   */
  noIdempotencyKey: `${REDIS_PREFIX}:idem:none`,
  /** Idempotency key -> job id; hashed so any client string makes a safe key. */
  idempotency: (tenant: string, key: string) =>
    `${REDIS_PREFIX}:tenant:${tenant}:idem:${createHash('sha256').update(key).digest('hex')}`,
  /**
   * Hash of output schemas by ref (the task version's schemaHash): a node records its `outputSchemaRef`, so a
   * schema is stored once, not per node. Written by submitJob (HSETNX: a ref's schema never changes), never
   * deleted (one entry per task version ever planned).
   */
  outputSchemas: `${REDIS_PREFIX}:schemas:output`,
  /** Set of job ids not yet finished: what the reconciler looks at. */
  activeJobs: `${REDIS_PREFIX}:jobs:active`,
  /** Sorted set (score = failed at, ms) of FAILED job ids, requeued with retryJob. */
  deadLetter: `${REDIS_PREFIX}:jobs:dead-letter`,
  /** Sorted set (score = finished at, ms) of terminal job ids: what the retention sweep reads. */
  finishedJobs: `${REDIS_PREFIX}:jobs:finished`,
  cancelled: cancelledJobKey,
  /** The scheduler leader's lease. */
  leader: `${REDIS_PREFIX}:scheduler:leader`,
  /** A jobs-subgraph replica's liveness key (TTL, replica-liveness.ts): the leases it pops carry its id. */
  replica: (id: string) => `${REDIS_PREFIX}:scheduler:replica:${id}`,
} as const;

/** The five keys every transition script takes first (see lua/includes/common.lua). */
export const transitionKeys = (jobId: string): [string, string, string, string, string] => [
  JOB_KEYS.job(jobId),
  JOB_KEYS.activeJobs,
  JOB_KEYS.deadLetter,
  JOB_KEYS.cancelled(jobId),
  JOB_KEYS.finishedJobs,
];
