import type { Redis } from 'ioredis';
import { REDIS_KEYS, TERMINAL_JOB_STATUSES } from '#libs/contracts';
import type { ArtifactRepository } from './artifact-repository.js';
import { describe } from './errors.js';
import type { StorageLogger } from './logger.js';
import { STORAGE_KEYS } from './storage-keys.js';

const TERMINAL: ReadonlySet<string> = TERMINAL_JOB_STATUSES;

export interface SweepOptions {
  /** Staged or pending artifacts older than this are orphans (their attempt or upload never committed). */
  orphanGraceMs: number;
  /** Committed artifacts older than this are deleted; 0 keeps them forever. */
  retentionMs: number;
  /** Most records handled per sweep, so one run stays short. */
  batchSize: number;
}

export interface SweepResult {
  orphans: number;
  expired: number;
  objectsRemoved: number;
}

/**
 * Deletes what must not stay: orphans (uncommitted past the grace period), committed artifacts past
 * retention (a job's outputs counted from the job's finish, kept while it runs), and objects whose time in the remove-after index has come (staging objects of expired upload
 * grants, commit copies that were never committed). Records go first, each atomically with queueing its object; then queued objects are
 * removed, so a record never points at a missing object and a crash mid-sweep leaks nothing. Meant to
 * run on one leader at a time, but safe if two overlap (every step is conditional and idempotent).
 */
export class ArtifactSweeper {
  constructor(
    private readonly redis: Redis,
    private readonly artifacts: ArtifactRepository,
    private readonly options: SweepOptions,
    private readonly logger: StorageLogger,
  ) {}

  async sweep(now: Date = new Date()): Promise<SweepResult> {
    const orphans = await this.sweepOrphans(now);
    const expired = await this.sweepRetention(now);
    await this.artifacts.claimDueRemovals(now, this.options.batchSize);
    const objectsRemoved = await this.artifacts.removeQueuedObjects(this.options.batchSize);
    const result = { orphans, expired, objectsRemoved };
    if (orphans || expired || objectsRemoved) this.logger.info({ ...result }, 'artifact sweep removed data');
    return result;
  }

  async sweepOrphans(now: Date): Promise<number> {
    const cutoff = now.getTime() - this.options.orphanGraceMs;
    return this.sweepIndex(REDIS_KEYS.uncommittedArtifacts, cutoff, 'orphan', async (id) => {
      if (await this.artifacts.delete(id, ['staged', 'pending'])) return true;
      // A record that vanished or got committed meanwhile leaves a stale index entry: drop it.
      await this.redis.zrem(REDIS_KEYS.uncommittedArtifacts, id);
      return false;
    });
  }

  async sweepRetention(now: Date): Promise<number> {
    if (this.options.retentionMs <= 0) return 0;
    const cutoff = now.getTime() - this.options.retentionMs;
    return this.sweepIndex(STORAGE_KEYS.artifactsByCreatedAt, cutoff, 'retention', async (id) => {
      const record = await this.artifacts.get(id);
      if (!record) {
        await this.redis.zrem(STORAGE_KEYS.artifactsByCreatedAt, id);
        return false;
      }
      // Uncommitted ones are the orphan sweep's (its grace is shorter than retention).
      if (record.state !== 'committed') return false;
      // A job's output is kept while its job may still read it: retention counts from the job's finish.
      const counted = record.jobId ? await this.jobRetentionStart(record.jobId, now) : null;
      if (counted !== null && counted > cutoff) {
        await this.redis.zadd(STORAGE_KEYS.artifactsByCreatedAt, counted, id);
        return false;
      }
      return this.artifacts.delete(id, ['committed']);
    });
  }

  /**
   * From when an output of this job counts toward retention (ms): the job's finish, now while it runs (so it is
   * looked at again a retention later), or null when the job is gone (purged: its outputs count from creation).
   */
  private async jobRetentionStart(jobId: string, now: Date): Promise<number | null> {
    const [status, finishedAt] = await this.redis.hmget(REDIS_KEYS.job(jobId), 'status', 'finishedAt');
    if (status === null) return null;
    if (!TERMINAL.has(status)) return now.getTime();
    const finished = finishedAt ? Date.parse(finishedAt) : NaN;
    return Number.isFinite(finished) ? finished : null;
  }

  /**
   * Hands `remove` up to a batch of the ids `index` scores at or before `cutoff`; counts those it deleted. One
   * that fails is logged and stays in the index, so the next sweep tries it again.
   */
  private async sweepIndex(
    index: string,
    cutoff: number,
    sweep: 'orphan' | 'retention',
    remove: (id: string) => Promise<boolean>,
  ): Promise<number> {
    const ids = await this.redis.zrangebyscore(index, '-inf', cutoff, 'LIMIT', 0, this.options.batchSize);
    let deleted = 0;
    for (const id of ids) {
      try {
        if (await remove(id)) deleted++;
      } catch (e) {
        this.logger.warn(
          { artifactId: id, err: describe(e) },
          `${sweep} sweep could not delete an artifact; will retry`,
        );
      }
    }
    return deleted;
  }
}
