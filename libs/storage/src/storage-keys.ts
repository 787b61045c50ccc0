import { REDIS_KEYS, REDIS_PREFIX } from '#libs/contracts';

/**
 * Redis keys only libs/storage reads and writes (from the worker and the artifacts subgraph alike).
 * Keys other components touch are in REDIS_KEYS (#libs/contracts).
 */
export const STORAGE_KEYS = {
  /**
   * Sorted set of one tenant's artifact ids by createdAt (ms): the retention sweep's index, per tenant so the sweep
   * takes tenants in turns. The sweep moves a job's output to its job's finish (or to now while the job runs) when
   * it meets one not yet due by that clock. Written with `createdArtifactTenants` in the same Lua steps.
   */
  tenantArtifactsByCreatedAt: (tenant: string) => `${REDIS_PREFIX}:artifacts:created:${tenant}`,
  /** Sorted set of the tenants whose `tenantArtifactsByCreatedAt` holds an entry, scored with its earliest one. */
  createdArtifactTenants: `${REDIS_PREFIX}:artifacts:created-tenants`,
  /**
   * Legacy: the one global retention index releases before the per-tenant ones wrote. Nothing adds to it any more;
   * the delete step still takes ids out of it, and the retention sweep drains it as one more lane of its turns
   * (an entry it reschedules moves to its tenant's index).
   */
  artifactsByCreatedAt: `${REDIS_PREFIX}:artifacts:created`,
  /**
   * Set of object keys whose record is already gone and whose object still has to be removed. A key is
   * added in the same atomic step that deletes the record, so a crash never leaks an object or leaves
   * a record pointing at a removed one.
   */
  objectsToDelete: `${REDIS_PREFIX}:artifacts:objects-to-delete`,
  /**
   * Sorted set of object keys to remove once their score (ms) has passed: an upload's staging object after
   * its grant expires (the client can still write it until then), a commit's copy that was never
   * committed (a crash between copy and commit), and a task output's object whose record was never written
   * (its stager died between put and record). The commit and the stage's record step remove their key from
   * here atomically with making it a record's key; the sweep claims due entries into objectsToDelete atomically.
   */
  removeAfter: `${REDIS_PREFIX}:artifacts:remove-after`,
  tenantUncommittedArtifacts: REDIS_KEYS.tenantUncommittedArtifacts,
  uncommittedArtifactTenants: REDIS_KEYS.uncommittedArtifactTenants,
  /** The tenant's artifact counters: in REDIS_KEYS, since the jobs subgraph reads them too (its submit quota). */
  tenantStoredBytes: REDIS_KEYS.tenantStoredBytes,
  tenantArtifacts: REDIS_KEYS.tenantArtifacts,
} as const;

/**
 * A tenant's sweep index keys, in the order the record steps take them (reserveUpload, stageArtifact,
 * deleteArtifact): its uncommitted index, the tenants with uncommitted entries, its created index, the tenants
 * with created entries.
 */
export const tenantSweepIndexKeys = (tenant: string): [string, string, string, string] => [
  STORAGE_KEYS.tenantUncommittedArtifacts(tenant),
  STORAGE_KEYS.uncommittedArtifactTenants,
  STORAGE_KEYS.tenantArtifactsByCreatedAt(tenant),
  STORAGE_KEYS.createdArtifactTenants,
];
