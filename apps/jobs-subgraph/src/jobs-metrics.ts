import { metrics } from '#libs/observability';
import type { ResourceClass } from '#libs/contracts';
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
    help: 'Requests refused with QUOTA_EXCEEDED, by quota (activeJobs, queuedNodes, labelBytes, labelKeys)',
    labelNames: ['quota'] as const,
  });
  const repairs = metrics.counter({
    name: 'switchyard_quota_usage_repairs_total',
    help: "Tenants whose quota bookkeeping the leader's audit found wrong and repaired",
  });
  return { refused: (quota) => refusals.inc({ quota }), usageRepaired: (n) => repairs.inc(n) };
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
  metrics.gauge({
    name: 'switchyard_node_queue_depth',
    help: 'Node attempts waiting in the queue of each resource class (waiting, prioritized, delayed)',
    labelNames: ['resource_class'] as const,
    async collect() {
      try {
        for (const [rc, n] of Object.entries(await queueDepth())) this.set({ resource_class: rc }, n);
      } catch {
        // Redis unreachable: keep the last values; readiness reports the outage
      }
    },
  });
  return {
    jobSubmitted: () => submitted.inc(),
    jobFinished: (status) => finished.inc({ status }),
    reportApplied: (type, outcome) => reports.inc({ type, outcome }),
    reconcilerAction: (action) => reconciler.inc({ action }),
    jobsPurged: (count) => purged.inc(count),
  };
}
