import type { Redis } from 'ioredis';
import type { JobStatus } from '#libs/contracts';
import type { BackoffPolicy } from './backoff.js';
import type { NodeEnqueuer } from './enqueuer.js';
import type { SchedulerLogger, SchedulerMetrics } from './scheduler-ports.js';
import type { TenantQuotas } from './tenant-quotas.js';

export interface SchedulerConfig {
  backoff: BackoffPolicy;
  /** Job-level deadline, from submit (and from each retryJob). */
  jobDeadlineMs: number;
  /** Per-tenant limits checked inside submit and retry (DEFAULT_TENANT_QUOTAS when absent). */
  quotas?: TenantQuotas;
  /**
   * Bytes of log events (as stored) one job may hold; past it one truncation event, then its lines are dropped.
   * 0 = no budget. Default DEFAULT_JOB_LOG_MAX_BYTES.
   */
  jobLogMaxBytes?: number;
}

export interface SchedulerDeps {
  /** A fail-fast (command role) connection: request paths must not hang through an outage. */
  redis: Redis;
  enqueuer: NodeEnqueuer;
  config: SchedulerConfig;
  logger: SchedulerLogger;
  metrics?: SchedulerMetrics;
  now?: () => number;
  random?: () => number;
}

export type ReportOutcome = 'applied' | 'stale';
export type CancelOutcome =
  { outcome: 'cancelled' } | { outcome: 'finished'; status: JobStatus } | { outcome: 'missing' };
/** A quota refusal is thrown (QuotaExceededError), not returned: nothing was written. */
export type RetryOutcome =
  { outcome: 'retried' } | { outcome: 'conflict'; status: JobStatus } | { outcome: 'missing' };
