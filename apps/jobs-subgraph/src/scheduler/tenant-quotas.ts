import { DEFAULT_TENANT_MAX_ARTIFACTS, DEFAULT_TENANT_MAX_STORED_BYTES } from '#libs/config';
import { DomainError } from '#libs/errors';

/** Per-tenant limits the submit and retry transitions enforce atomically (lua/includes/common.lua, quotaRefusal). */
export interface TenantQuotas {
  /** Unfinished (QUEUED or RUNNING) jobs per tenant. */
  maxActiveJobs: number;
  /** Unfinished nodes (not SUCCEEDED, FAILED or CANCELLED) of a tenant's unfinished jobs. */
  maxQueuedNodes: number;
  /**
   * TENANT_MAX_STORED_BYTES, the artifacts subgraph's quota: a tenant whose artifacts hold this many bytes or more
   * submits no new job (submitJob-10.lua) and retries none (retryJob-7.lua); 0 = off. Absent: the default.
   */
  maxStoredBytes?: number;
  /** TENANT_MAX_ARTIFACTS, likewise for the tenant's artifact records; 0 = off. Absent: the default. */
  maxArtifacts?: number;
}

export const DEFAULT_TENANT_QUOTAS: Required<TenantQuotas> = {
  maxActiveJobs: 1_000,
  maxQueuedNodes: 10_000,
  maxStoredBytes: DEFAULT_TENANT_MAX_STORED_BYTES,
  maxArtifacts: DEFAULT_TENANT_MAX_ARTIFACTS,
};

/** Names a refusal carries (`extensions.limit` of QUOTA_EXCEEDED, the `quota` label of the refusals metric). */
export type QuotaName =
  'activeJobs' | 'queuedNodes' | 'labelBytes' | 'labelKeys' | 'storedBytes' | 'artifacts';

/**
 * A job reserves no artifact up front (its outputs count when a worker stages them, and are never refused), so a
 * refusal by an artifact quota has `requested` 0: the tenant is at or over the quota already (`used >= max`).
 */
export function artifactQuotaError(
  quotas: Pick<TenantQuotas, 'maxStoredBytes' | 'maxArtifacts'>,
  storedBytes: number,
  artifacts: number,
): QuotaExceededError | null {
  const maxBytes = quotas.maxStoredBytes ?? 0;
  const maxArtifacts = quotas.maxArtifacts ?? 0;
  if (maxBytes > 0 && storedBytes >= maxBytes)
    return new QuotaExceededError('storedBytes', maxBytes, storedBytes, 0);
  if (maxArtifacts > 0 && artifacts >= maxArtifacts)
    return new QuotaExceededError('artifacts', maxArtifacts, artifacts, 0);
  return null;
}

/**
 * A quota refused a request; nothing was written. QUOTA_EXCEEDED as clients see it. `extensions`: `limit`
 * (which quota: activeJobs, queuedNodes, labelBytes, labelKeys, storedBytes, artifacts), `max` (its value),
 * `used` (the tenant's use before this request; 0 for per-request limits) and `requested` (what this request
 * would add; 0 for the artifact quotas, see artifactQuotaError).
 */
export class QuotaExceededError extends DomainError {
  constructor(
    readonly quota: QuotaName,
    /** The limit. */
    readonly max: number,
    /** What the tenant (or request) uses now, before the refused request. */
    readonly used: number,
    /** What the refused request would have added. */
    readonly requested: number,
  ) {
    super('QUOTA_EXCEEDED', quotaMessage(quota, max, used, requested), {
      limit: quota,
      max,
      used,
      requested,
    });
    this.name = 'QuotaExceededError';
  }
}

function quotaMessage(quota: QuotaName, max: number, used: number, requested: number): string {
  switch (quota) {
    case 'activeJobs':
      return `the tenant has ${used} unfinished jobs, the limit is ${max}`;
    case 'queuedNodes':
      return `the tenant has ${used} unfinished nodes and this job adds ${requested}, the limit is ${max}`;
    case 'labelBytes':
      return `labels are ${requested} bytes of JSON, the limit is ${max}`;
    case 'labelKeys':
      return `labels have ${requested} keys, the limit is ${max}`;
    case 'storedBytes':
      return `the tenant's artifacts hold ${used} bytes, the limit is ${max}: no new job or retry until artifacts are deleted or expire`;
    case 'artifacts':
      return `the tenant has ${used} artifacts, the limit is ${max}: no new job or retry until artifacts are deleted or expire`;
  }
}

/** `{ 'quota', name, max, used, requested }` as the Lua scripts return a refusal. */
export const quotaErrorFrom = (reply: ReadonlyArray<unknown>): QuotaExceededError =>
  new QuotaExceededError(reply[0] as QuotaName, Number(reply[1]), Number(reply[2]), Number(reply[3]));
