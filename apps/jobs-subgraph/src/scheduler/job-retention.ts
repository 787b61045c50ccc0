import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { REDIS_KEYS, ResourceClass } from '#libs/contracts';
import type { NodeEnqueuer } from './enqueuer.js';
import { JOB_KEYS, transitionKeys } from './keys.js';
import { runScript } from './scripts.js';
import { NO_METRICS, type SchedulerLogger, type SchedulerMetrics } from './scheduler-ports.js';

export interface JobRetentionConfig {
  /** Terminal jobs finished longer ago than this are deleted; 0 keeps them forever. */
  retentionMs: number;
  /** Jobs one batch examines: one range read, then their deletions side by side. */
  batchSize: number;
  /**
   * How long one pass keeps taking batches while more jobs are due (default RETENTION_PASS_MAX_MS; 0: one batch
   * per pass). Checked between batches, so a pass overruns it by at most one batch. The leader's other work
   * (reconcile, deadlines, dispatch maintenance) waits for the pass, so this bounds how much a backlog delays it.
   */
  passMaxMs?: number;
}

/** A fifth of the default reconcile interval: a backlog delays deadlines and dispatch repairs by at most this. */
export const RETENTION_PASS_MAX_MS = 1000;

export interface RetentionSummary {
  /** Jobs the index named as old enough. */
  selected: number;
  deleted: number;
  /** Selected but kept (retried or refinished since selection). */
  kept: number;
  /** Index entries whose job hash was already gone (entry dropped). */
  missing: number;
  failed: number;
  /** Batches taken (0 when retention is off). */
  batches: number;
  /**
   * Jobs still due when the pass ended (ZCOUNT of the index up to the cutoff): 0 once drained; above 0 when the
   * pass hit its time bound or was told to stop, or due entries were kept or failed.
   */
  backlog: number;
}

export const MS_PER_DAY = 86_400_000;

/**
 * Deletes finished jobs past their retention, oldest first (run by the leader). Finding them is a range read of the
 * finished index (`{sy}:jobs:finished`, written by the transitions that finish a job), a batch at a time; a pass
 * goes on with further batches while a batch was full and not all failed, until `passMaxMs` has passed or the leader lost
 * its lease, so a deployment finishing jobs faster than one batch per pass does not pile them up (the artifact
 * sweeper's shape). Each deletion is one Lua step that re-checks the job is still terminal and old, so a retryJob
 * in between wins, and a second sweeper (a deposed leader finishing its batch) only finds `missing`.
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

  /** Due finished jobs not deleted yet (ZCOUNT of the index up to now − retention); 0 when retention is off. */
  async due(): Promise<number> {
    if (!this.enabled) return 0;
    return this.dueBefore(this.now() - this.config.retentionMs);
  }

  /** Entries of the finished index up to `cutoffMs`: the jobs due for deletion, kept ones included. */
  private dueBefore(cutoffMs: number): Promise<number> {
    return this.redis.zcount(JOB_KEYS.finishedJobs, '-inf', cutoffMs);
  }

  /**
   * One pass: batches until one is not full (nothing more due) or all of it failed, `passMaxMs` has passed, or
   * `proceed()` says stop (the leader lease was lost). Logs a warning when it stopped so with due jobs left.
   */
  async sweepOnce(proceed: () => boolean = () => true): Promise<RetentionSummary> {
    const summary: RetentionSummary = {
      selected: 0,
      deleted: 0,
      kept: 0,
      missing: 0,
      failed: 0,
      batches: 0,
      backlog: 0,
    };
    if (!this.enabled) return summary;
    const now = this.now();
    const cutoffMs = now - this.config.retentionMs;
    const deadline = Date.now() + (this.config.passMaxMs ?? RETENTION_PASS_MAX_MS);
    let more: boolean;
    do {
      if (summary.batches > 0) await nextTurn(); // let requests and lease renewals in between batches
      // kept and failed entries stay in the index ahead of the rest: skip them, so they cannot stall the pass
      const batch = await this.batch(cutoffMs, now, summary.kept + summary.failed);
      summary.batches++;
      summary.selected += batch.selected;
      summary.deleted += batch.deleted;
      summary.kept += batch.kept;
      summary.missing += batch.missing;
      summary.failed += batch.failed;
      if (batch.deleted > 0) this.metrics.jobsPurged(batch.deleted);
      // kept entries move the offset on; a batch that only failed (Redis refusing the script) would fail again
      more = batch.selected >= this.config.batchSize && batch.failed < batch.selected;
    } while (more && Date.now() < deadline && proceed());
    summary.backlog = await this.dueBefore(cutoffMs);
    // only when stopped early: entries the script keeps (not terminal) would otherwise warn on every pass
    if (more && summary.backlog > 0)
      this.logger.warn({ ...summary }, 'retention pass left due jobs for the next pass');
    return summary;
  }

  /** Up to a batch of due jobs from `offset` in the index, deleted side by side (each its own atomic step). */
  private async batch(cutoffMs: number, now: number, offset: number) {
    const counts = { selected: 0, deleted: 0, kept: 0, missing: 0, failed: 0 };
    const jobIds = await this.redis.zrangebyscore(
      JOB_KEYS.finishedJobs,
      '-inf',
      cutoffMs,
      'LIMIT',
      offset,
      this.config.batchSize,
    );
    counts.selected = jobIds.length;
    await Promise.all(
      jobIds.map(async (jobId) => {
        try {
          counts[await this.purge(jobId, cutoffMs, now)]++;
        } catch (e) {
          counts.failed++;
          this.logger.error({ jobId, err: (e as Error).message }, 'deleting a finished job failed');
        }
      }),
    );
    return counts;
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
