import type { Redis } from 'ioredis';
import { REDIS_KEYS, ResourceClass } from '#libs/contracts';
import type { NodeEnqueuer } from './enqueuer.js';
import { JOB_KEYS, transitionKeys } from './keys.js';
import { runScript } from './scripts.js';
import { NO_METRICS, type SchedulerLogger, type SchedulerMetrics } from './scheduler-ports.js';

export interface JobRetentionConfig {
  /** Terminal jobs finished longer ago than this are deleted; 0 keeps them forever. */
  retentionMs: number;
  /** Jobs examined per pass at most, so one pass never holds the leader long. */
  batchSize: number;
}

export interface RetentionSummary {
  /** Jobs the index named as old enough. */
  selected: number;
  deleted: number;
  /** Selected but kept (retried or refinished since selection). */
  kept: number;
  /** Index entries whose job hash was already gone (entry dropped). */
  missing: number;
  failed: number;
}

export const MS_PER_DAY = 86_400_000;

/**
 * Deletes finished jobs past their retention, oldest first, a bounded batch per pass (run by the leader). Finding
 * them is one range read of the finished index (`{sy}:jobs:finished`, written by the transitions that finish a job);
 * each deletion is one Lua step that re-checks the job is still terminal and old, so a retryJob in between wins.
 * Jobs finished before the index existed are not in it and are never swept. After a deletion the node queues'
 * entries of the job's attempts are removed too (idempotent; if this process dies first, BullMQ's own
 * removeOnComplete/removeOnFail age limits drop them). Artifact keys are the artifacts subgraph's and stay.
 */
export class JobRetention {
  constructor(
    private readonly redis: Redis,
    private readonly queues: Pick<NodeEnqueuer, 'remove'>,
    private readonly config: JobRetentionConfig,
    private readonly logger: SchedulerLogger,
    private readonly metrics: SchedulerMetrics = NO_METRICS,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.config.retentionMs > 0;
  }

  async sweepOnce(): Promise<RetentionSummary> {
    const summary: RetentionSummary = { selected: 0, deleted: 0, kept: 0, missing: 0, failed: 0 };
    if (!this.enabled) return summary;
    const now = this.now();
    const cutoffMs = now - this.config.retentionMs;
    const jobIds = await this.redis.zrangebyscore(
      JOB_KEYS.finishedJobs,
      '-inf',
      cutoffMs,
      'LIMIT',
      0,
      this.config.batchSize,
    );
    summary.selected = jobIds.length;
    for (const jobId of jobIds) {
      try {
        summary[await this.purge(jobId, cutoffMs, now)]++;
      } catch (e) {
        summary.failed++;
        this.logger.error({ jobId, err: (e as Error).message }, 'deleting a finished job failed');
      }
    }
    if (summary.deleted > 0) this.metrics.jobsPurged(summary.deleted);
    return summary;
  }

  private async purge(jobId: string, cutoffMs: number, now: number): Promise<'deleted' | 'kept' | 'missing'> {
    // tenant and idempotency key never change after submit, so reading them before the script is safe (and the
    // script checks they still match)
    const [tenant, idempotencyKey] = await this.redis.hmget(JOB_KEYS.job(jobId), 'tenant', 'idempotencyKey');
    const result = (await runScript(
      this.redis,
      'purgeJob',
      [
        ...transitionKeys(jobId),
        JOB_KEYS.tenantJobs(tenant ?? ''),
        tenant && idempotencyKey ? JOB_KEYS.idempotency(tenant, idempotencyKey) : JOB_KEYS.noIdempotencyKey,
      ],
      [
        new Date(now).toISOString(),
        now,
        REDIS_KEYS.cancelChannel,
        jobId,
        cutoffMs,
        tenant ?? '',
        idempotencyKey ?? '',
      ],
    )) as string[];
    const outcome = result[0];
    if (outcome === 'deleted') {
      await this.removeQueueEntries(jobId, result.slice(1));
      return outcome;
    }
    if (outcome === 'missing') return outcome;
    this.logger.debug({ jobId, reason: result[1] }, 'finished job kept by the retention sweep');
    return 'kept';
  }

  /** Every attempt number up to the node's last one had a queue entry (attempt ids are never reused). */
  private async removeQueueEntries(jobId: string, nodes: string[]): Promise<void> {
    for (const entry of nodes) {
      const [nodeId, attempts, rc] = entry.split('|') as [string, string, string];
      const resourceClass = ResourceClass.safeParse(rc);
      if (!resourceClass.success) continue;
      for (let attempt = 1; attempt <= Number(attempts); attempt++) {
        try {
          await this.queues.remove(resourceClass.data, jobId, nodeId, attempt);
        } catch (e) {
          // left to BullMQ's age limit; the job itself is gone already
          this.logger.warn(
            { jobId, nodeId, attempt, err: (e as Error).message },
            "removing a deleted job's queue entry failed",
          );
        }
      }
    }
  }
}
