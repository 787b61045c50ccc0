import { DomainError } from '#libs/errors';

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

/**
 * A quota refused a request; nothing was written. QUOTA_EXCEEDED as clients see it. `extensions`: `limit`
 * (which quota: activeJobs, queuedNodes, labelBytes, labelKeys), `max` (its value), `used` (the tenant's use
 * before this request; 0 for per-request limits) and `requested` (what this request would add).
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
  }
}

/** `{ 'quota', name, max, used, requested }` as the Lua scripts return a refusal. */
export const quotaErrorFrom = (reply: ReadonlyArray<unknown>): QuotaExceededError =>
  new QuotaExceededError(reply[0] as QuotaName, Number(reply[1]), Number(reply[2]), Number(reply[3]));
