import type { Redis } from 'ioredis';
import { JOB_KEYS } from './keys.js';
import { runScript } from './scripts.js';
import type { SchedulerLogger } from './scheduler-ports.js';

export interface UsageAuditSummary {
  /** Tenants with an unfinished job, each audited in one Lua step. */
  tenants: number;
  /** Tenants whose `openNodes` counter was wrong and was set to the recount. */
  repaired: number;
  /** Unfinished jobs added to a status index they were missing from. */
  indexed: number;
  /** Stale QUEUED/RUNNING index entries removed. */
  dropped: number;
}

/**
 * The leader's check of the quota bookkeeping (after each reconcile pass). Every transition keeps the per-tenant
 * status indexes and `openNodes` exact in the same atomic step, and Redis applies a script all or nothing (also
 * across an AOF replay), so a crash cannot make them drift; this pass exists for what the transitions never saw:
 * jobs that were unfinished before the indexes existed, and a counter edited by hand. O(unfinished jobs), like
 * the reconciler. Each tenant is recounted in one script (recountTenantUsage-3.lua), so no transition interleaves.
 */
export class TenantUsageAudit {
  constructor(
    private readonly redis: Redis,
    private readonly logger: SchedulerLogger,
    private readonly onRepaired: (tenants: number) => void = () => {},
  ) {}

  async auditOnce(): Promise<UsageAuditSummary> {
    const summary: UsageAuditSummary = { tenants: 0, repaired: 0, indexed: 0, dropped: 0 };
    const byTenant = new Map<string, string[]>();
    const ids = await this.redis.smembers(JOB_KEYS.activeJobs);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(JOB_KEYS.job(id), 'tenant');
    const tenants = (await pipeline.exec()) ?? [];
    ids.forEach((id, i) => {
      const tenant = tenants[i]?.[1];
      if (typeof tenant !== 'string') return;
      byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), id]);
    });
    for (const [tenant, jobIds] of byTenant) {
      const [before, after, indexed, dropped] = (await runScript(
        this.redis,
        'recountTenantUsage',
        [
          JOB_KEYS.tenantUsage(tenant),
          JOB_KEYS.tenantJobsByStatus(tenant, 'QUEUED'),
          JOB_KEYS.tenantJobsByStatus(tenant, 'RUNNING'),
        ],
        [JOB_KEYS.job(''), ...jobIds],
      )) as [number, number, number, number];
      summary.tenants += 1;
      summary.indexed += indexed;
      summary.dropped += dropped;
      if (before !== after || indexed > 0 || dropped > 0) {
        summary.repaired += 1;
        this.logger.warn(
          { tenant, openNodesBefore: before, openNodes: after, indexed, dropped },
          'quota usage repaired',
        );
      }
    }
    if (summary.repaired > 0) this.onRepaired(summary.repaired);
    return summary;
  }
}
