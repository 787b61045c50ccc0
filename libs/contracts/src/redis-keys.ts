import type { ArtifactListPosition } from './cursors.js';

/**
 * The Redis layout shared between processes. Keys a single component owns privately may live with it,
 * but anything a second process reads or writes is named here, once.
 */
/**
 * Every Switchyard key starts with this. The braces make `sy` the Redis Cluster hash tag of every key, so all of
 * them hash to one slot: a Lua step touches a job's keys, its tenant's indexes and global sets at once, which
 * Cluster allows only within one slot (see docs/deployment.md for what that means for scaling).
 */
export const REDIS_PREFIX = '{sy}';

/** BullMQ's key prefix (its default is `bull`): braced for the same reason, so its own scripts run on Cluster. */
export const BULLMQ_PREFIX = '{bull}';

export const REDIS_KEYS = {
  /** Stream of NodeReport (field `r` = JSON) from workers to the scheduler. */
  reports: `${REDIS_PREFIX}:reports`,
  /** Consumer group of the scheduler replicas on `reports`. */
  reportsGroup: 'scheduler',
  /** Pub/sub channel of CancelNotice. */
  cancelChannel: `${REDIS_PREFIX}:cancel`,
  /** Set of live worker ids; each worker's manifest is a string key with a TTL. */
  workers: `${REDIS_PREFIX}:workers`,
  worker: (id: string) => `${REDIS_PREFIX}:worker:${id}`,
  /** Hash: the job record (owned by the jobs subgraph's scheduler). */
  job: (jobId: string) => `${REDIS_PREFIX}:job:${jobId}`,
  /**
   * Hash: one node of a job (owned by the scheduler). Workers read its `status` and `attempt` before an attempt
   * that came in a lease, to skip one that already ended (a lease re-run after its actor died).
   */
  node: (jobId: string, nodeId: string) => `${REDIS_PREFIX}:job:${jobId}:node:${nodeId}`,
  /** Hash: artifact metadata (ArtifactRecord fields). */
  artifact: (id: string) => `${REDIS_PREFIX}:artifact:${id}`,
  /** Set of committed artifact ids of a job. */
  jobArtifacts: (jobId: string) => `${REDIS_PREFIX}:job:${jobId}:artifacts`,
  /**
   * Sorted set, every score 0: the same artifacts as `jobArtifacts`, one member each (jobArtifactOrderMember),
   * so a page in commit order is one ZRANGE BYLEX seek. Written and removed with the set, in the same Lua steps;
   * a job indexed before it existed is indexed from the set by the first read.
   */
  jobArtifactOrder: (jobId: string) => `${REDIS_PREFIX}:job:${jobId}:artifacts:order`,
  /**
   * String (value = the attemptArtifacts key it was staged under) with a TTL: a staged output deleted before its
   * attempt committed (the orphan sweep). The completion tells "expired" (retryable) from "not this attempt's".
   */
  expiredArtifact: (id: string) => `${REDIS_PREFIX}:expired-artifact:${id}`,
  /** Set of staged artifact ids of one attempt (committed with it, else swept). */
  attemptArtifacts: (jobId: string, nodeId: string, attempt: number) =>
    `${REDIS_PREFIX}:attempt:${jobId}:${nodeId}:${attempt}:artifacts`,
  /**
   * Sorted set of one tenant's staged/pending artifact ids for the orphan sweep, scored with the time (ms) its grace
   * counts from: createdAt, or for a staged output the deadline of its attempt when that is later (a long attempt's
   * early output stays until the attempt cannot be running any more). Per tenant, so the sweep takes tenants in
   * turns (docs/security.md "Sweeps under a backlog"); written with `uncommittedArtifactTenants` in the same Lua
   * steps (libs/redis lua/includes/sweep-index.lua). A prefix plus the tenant: Lua steps derive it from ARGV.
   */
  tenantUncommittedArtifacts: (tenant: string) => `${REDIS_PREFIX}:artifacts:uncommitted:${tenant}`,
  /** Sorted set of the tenants whose `tenantUncommittedArtifacts` holds an entry, scored with its earliest one. */
  uncommittedArtifactTenants: `${REDIS_PREFIX}:artifacts:uncommitted-tenants`,
  /**
   * Legacy: the one global index of uncommitted ids that releases before the per-tenant indexes wrote. Nothing
   * adds to it any more; the commit and delete steps still take ids out of it, and the orphan sweep drains it as
   * one more lane of its turns until it is empty.
   */
  uncommittedArtifacts: `${REDIS_PREFIX}:artifacts:uncommitted`,
  /** Sorted set (score = ms) of runner kills caused by a tenant's attempts, trimmed to the window (workers). */
  tenantRunnerKills: (tenant: string) => `${REDIS_PREFIX}:tenant:${tenant}:runner-kills`,
  /** String (value = until, epoch ms) with a TTL: the tenant's attempts are failed fast with TENANT_THROTTLED. */
  tenantThrottled: (tenant: string) => `${REDIS_PREFIX}:tenant:${tenant}:throttled`,
  /**
   * String: bytes of a tenant's artifacts (reserved uploads, staged and committed outputs). Written by libs/storage
   * (artifacts subgraph, workers); read by the jobs subgraph's submit step, which refuses new jobs of a tenant at
   * or over TENANT_MAX_STORED_BYTES. So every app must use the same Redis (REDIS_URL) for these counters.
   */
  tenantStoredBytes: (tenant: string) => `${REDIS_PREFIX}:artifacts:tenant:${tenant}:stored-bytes`,
  /** String: how many artifact records a tenant has (pending uploads, staged and committed); as tenantStoredBytes. */
  tenantArtifacts: (tenant: string) => `${REDIS_PREFIX}:artifacts:tenant:${tenant}:artifacts`,
  /** Hash of API keys by id (owned by libs/auth). */
  apiKey: (id: string) => `${REDIS_PREFIX}:apikey:${id}`,
} as const;

/** String key set by the scheduler when a job is cancelled; workers check it before starting an attempt. */
export const cancelledJobKey = (jobId: string) => `${REDIS_PREFIX}:job:${jobId}:cancelled`;

/**
 * Where an artifact stands in its job's list, after the tenant (jobArtifactOrderMember): an artifact the scheduler
 * committed is `c`, its commitSeq (16 digits) then NUL and id; one committed by an older release (no commitSeq)
 * is its createdAt as a canonical ISO string (fixed width), name, NUL, id. An ISO string starts with a digit, so
 * every older one sorts before every `c` one, as they were committed before it. The Lua side is
 * libs/redis/src/lua/includes/artifact-order.lua (this is its twin, for the reader's cursors, tests and tools).
 */
export const jobArtifactOrderPlace = (p: ArtifactListPosition): string =>
  'commitSeq' in p
    ? `c${String(p.commitSeq).padStart(16, '0')}\0${p.id}`
    : `${new Date(p.createdMs).toISOString()}${p.name}\0${p.id}`;

/** The list position of an artifact record (or its hash's fields): what a cursor after it names. */
export const artifactListPositionOf = (a: {
  id: string;
  createdAt: string;
  name: string;
  commitSeq?: number | string;
}): ArtifactListPosition =>
  a.commitSeq !== undefined
    ? { commitSeq: Number(a.commitSeq), id: a.id }
    : { createdMs: Date.parse(a.createdAt), name: a.name, id: a.id };

/**
 * A committed artifact's member in `jobArtifactOrder`: tenant, NUL, then its place (jobArtifactOrderPlace).
 * Tenants, names and ids never hold NUL, so byte order (ZRANGE BYLEX) is the list's order within a tenant: one
 * tenant's members are one contiguous range.
 */
export const jobArtifactOrderMember = (a: {
  tenant: string;
  createdAt: string;
  name: string;
  id: string;
  commitSeq?: number | string;
}) => `${a.tenant}\0${jobArtifactOrderPlace(artifactListPositionOf(a))}`;
