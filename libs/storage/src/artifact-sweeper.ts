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
  /** Records (and objects) one step of a sweep handles: one Redis read, then one delete per record. */
  batchSize: number;
  /**
   * How long one sweep keeps taking batches while there is more due (default SWEEP_PASS_MAX_MS). A backlog
   * drains at many batches per interval, and a pass still ends: checked between batches, so it overruns by at
   * most one batch of each kind.
   */
  passMaxMs?: number;
}

/** Well under the sweep lease (10 s), so the leader keeps renewing it between passes. */
export const SWEEP_PASS_MAX_MS = 5000;

/** What one batch of a kind did: `more` when it took a full batch and made progress (more may be due). */
interface BatchOutcome {
  done: number;
  more: boolean;
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

  /**
   * Takes a batch of each kind (orphans, retention, due removals, queued objects) in turn, and goes on with the
   * kinds that found a full batch until none does, `passMaxMs` has passed or `proceed()` says stop (the sweep
   * lease was lost). Round by round, so a backlog of one kind (one tenant's flood of orphans) does not keep the
   * others waiting for a later interval.
   */
  async sweep(now: Date = new Date(), proceed: () => boolean = () => true): Promise<SweepResult> {
    const deadline = Date.now() + (this.options.passMaxMs ?? SWEEP_PASS_MAX_MS);
    const result: SweepResult = { orphans: 0, expired: 0, objectsRemoved: 0 };
    const kinds: Array<{ run: () => Promise<BatchOutcome>; add: (n: number) => void }> = [
      { run: () => this.orphanBatch(now), add: (n) => (result.orphans += n) },
      { run: () => this.retentionBatch(now), add: (n) => (result.expired += n) },
      { run: () => this.claimBatch(now), add: () => undefined },
      { run: () => this.objectBatch(), add: (n) => (result.objectsRemoved += n) },
    ];
    let pending = kinds;
    let rounds = 0;
    do {
      const next: typeof kinds = [];
      for (const kind of pending) {
        const outcome = await kind.run();
        kind.add(outcome.done);
        if (outcome.more) next.push(kind);
      }
      pending = next;
      rounds++;
    } while (pending.length > 0 && Date.now() < deadline && proceed());
    const { orphans, expired, objectsRemoved } = result;
    if (orphans || expired || objectsRemoved)
      this.logger.info({ ...result, rounds }, 'artifact sweep removed data');
    if (pending.length > 0)
      this.logger.warn({ ...result, rounds }, 'artifact sweep left due work for the next pass');
    return result;
  }

  private async claimBatch(now: Date): Promise<BatchOutcome> {
    const claimed = await this.artifacts.claimDueRemovals(now, this.options.batchSize);
    return { done: claimed, more: claimed >= this.options.batchSize };
  }

  private async objectBatch(): Promise<BatchOutcome> {
    const removed = await this.artifacts.removeQueuedObjects(this.options.batchSize);
    return { done: removed, more: removed >= this.options.batchSize };
  }

  /** Up to a batch of orphans: uploads never completed, outputs of attempts that never committed. */
  private orphanBatch(now: Date): Promise<BatchOutcome> {
    const cutoff = now.getTime() - this.options.orphanGraceMs;
    return this.sweepIndex(REDIS_KEYS.uncommittedArtifacts, cutoff, 'orphan', async (id) => {
      if (await this.artifacts.delete(id, ['staged', 'pending'])) return true;
      // A record that vanished or got committed meanwhile leaves a stale index entry: drop it.
      await this.redis.zrem(REDIS_KEYS.uncommittedArtifacts, id);
      return false;
    });
  }

  /** Up to a batch of committed artifacts past retention. */
  private async retentionBatch(now: Date): Promise<BatchOutcome> {
    if (this.options.retentionMs <= 0) return { done: 0, more: false };
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
   * that fails is logged and stays in the index, so the next sweep tries it again. `more` only when the batch
   * was full and deleted something: a batch that only failed (or was all skipped) would be the same next time.
   */
  private async sweepIndex(
    index: string,
    cutoff: number,
    sweep: 'orphan' | 'retention',
    remove: (id: string) => Promise<boolean>,
  ): Promise<BatchOutcome> {
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
    return { done: deleted, more: ids.length >= this.options.batchSize && deleted > 0 };
  }
}
