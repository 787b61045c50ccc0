import { nonNegativeInt } from './fields.js';

/** Bytes of artifacts one tenant may hold (TENANT_MAX_STORED_BYTES): 50 GiB. */
export const DEFAULT_TENANT_MAX_STORED_BYTES = 50 * 1024 ** 3;
/**
 * Artifact records one tenant may hold (TENANT_MAX_ARTIFACTS): plenty for real use, yet it bounds what one tenant
 * can put in Redis (a hash and index entries per record, about 1.4 KB measured: some 140 MB at this default) and
 * in the sweeps' queues, which bytes alone do not (a zero-byte upload costs no bytes).
 */
export const DEFAULT_TENANT_MAX_ARTIFACTS = 100_000;

/**
 * The per-tenant artifact quotas (docs/security.md, "Quotas"), one schema for both apps that enforce them: the
 * artifacts subgraph refuses uploads past them (createUpload), the jobs subgraph refuses new jobs from a tenant
 * at or over them (submitJob, submitJobs, validateGraph). Both must be given the same values.
 */
export const artifactQuotaEnv = {
  /** Bytes of artifacts one tenant may store (uploads reserved at createUpload, task outputs); 0 = no quota. */
  TENANT_MAX_STORED_BYTES: nonNegativeInt(DEFAULT_TENANT_MAX_STORED_BYTES),
  /** Artifact records one tenant may hold (pending uploads, task outputs, committed artifacts); 0 = no quota. */
  TENANT_MAX_ARTIFACTS: nonNegativeInt(DEFAULT_TENANT_MAX_ARTIFACTS),
};
