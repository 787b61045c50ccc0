/** Per-tenant limits the submit and retry transitions enforce atomically (lua/includes/common.lua, quotaRefusal). */
export interface TenantQuotas {
  /** Unfinished (QUEUED or RUNNING) jobs per tenant. */
  maxActiveJobs: number;
  /** Unfinished nodes (not SUCCEEDED, FAILED or CANCELLED) of a tenant's unfinished jobs. */
  maxQueuedNodes: number;
}

export const DEFAULT_TENANT_QUOTAS: TenantQuotas = { maxActiveJobs: 1_000, maxQueuedNodes: 10_000 };

/** Names a refusal carries (`extensions.limit` of QUOTA_EXCEEDED, the `quota` label of the refusals metric). */
export type QuotaName = 'activeJobs' | 'queuedNodes' | 'labelBytes' | 'labelKeys';

/** A quota refused a request; nothing was written. The service turns it into QUOTA_EXCEEDED. */
export class QuotaExceededError extends Error {
  constructor(
    readonly quota: QuotaName,
    /** The limit. */
    readonly max: number,
    /** What the tenant (or request) uses now, before the refused request. */
    readonly used: number,
    /** What the refused request would have added. */
    readonly requested: number,
  ) {
    super(`quota ${quota} exceeded: ${used} used + ${requested} requested > ${max}`);
    this.name = 'QuotaExceededError';
  }
}

/** `{ 'quota', name, max, used, requested }` as the Lua scripts return a refusal. */
export const quotaErrorFrom = (reply: ReadonlyArray<unknown>): QuotaExceededError =>
  new QuotaExceededError(reply[0] as QuotaName, Number(reply[1]), Number(reply[2]), Number(reply[3]));
