import type { Redis } from 'ioredis';
import { REDIS_KEYS, TERMINAL_JOB_STATUSES } from '#libs/contracts';
import type { ArtifactRepository } from './artifact-repository.js';
import { describe } from './errors.js';
import type { StorageLogger } from './logger.js';
import {
  CREATED_INDEX,
  dropEntry,
  dueEntries,
  rescheduleEntry,
  SweepTurns,
  UNCOMMITTED_INDEX,
  type BatchOutcome,
  type SweepIndex,
  type SweepLane,
} from './sweep-turns.js';

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

export interface SweepResult {
  orphans: number;
  expired: number;
  objectsRemoved: number;
}

/** What became of one due index entry: its artifact deleted, the entry moved or dropped, or left as it was. */
type EntryOutcome = 'deleted' | 'moved' | 'kept';

/**
 * Deletes what must not stay: orphans (uncommitted past the grace period), committed artifacts past
 * retention (a job's outputs counted from the job's finish, kept while it runs), and objects whose time in the remove-after index has come (staging objects of expired upload
 * grants, commit copies that were never committed). Records go first, each atomically with queueing its object; then queued objects are
 * removed, so a record never points at a missing object and a crash mid-sweep leaks nothing. Meant to
 * run on one leader at a time, but safe if two overlap (every step is conditional and idempotent).
 * Orphans and retention take tenants in turns (SweepTurns): one tenant's backlog neither delays another tenant's
 * sweeps nor keeps that tenant's swept artifacts counting against its quota.
 */
export class ArtifactSweeper {
  private readonly orphanTurns: SweepTurns;
  private readonly retentionTurns: SweepTurns;

  constructor(
    private readonly redis: Redis,
    private readonly artifacts: ArtifactRepository,
    private readonly options: SweepOptions,
    private readonly logger: StorageLogger,
  ) {
    this.orphanTurns = new SweepTurns(redis, UNCOMMITTED_INDEX);
    this.retentionTurns = new SweepTurns(redis, CREATED_INDEX);
  }

  /**
   * Takes a batch of each kind (orphans, retention, due removals, queued objects) in turn, and goes on with the
   * kinds that found a full batch until none does, `passMaxMs` has passed or `proceed()` says stop (the sweep
   * lease was lost). Round by round, so a backlog of one kind does not keep the others waiting for a later
   * interval; within orphans and retention, each batch is the next tenant's turn (one tenant's flood of orphans
   * gets one batch per turn of every tenant with due work).
   */
  async sweep(now: Date = new Date(), proceed: () => boolean = () => true): Promise<SweepResult> {
    const deadline = Date.now() + (this.options.passMaxMs ?? SWEEP_PASS_MAX_MS);
    const result: SweepResult = { orphans: 0, expired: 0, objectsRemoved: 0 };
    // the lanes (tenants, '' for the legacy global indexes) served this pass: the turns made visible in the log
    const served = new Set<string>();
    const turn = (outcome: BatchOutcome & { lane?: SweepLane }): BatchOutcome => {
      if (outcome.lane !== undefined) served.add(outcome.lane ?? '');
      return outcome;
    };
    // `sink`: a kind fed by the ones before it (a deleted upload queues its staging object for its grant's expiry,
    // a claim queues objects): it stays in while one of those goes on, even after a batch that was not full
    const kinds: Array<{ run: () => Promise<BatchOutcome>; add: (n: number) => void; sink?: true }> = [
      { run: () => this.orphanBatch(now).then(turn), add: (n) => (result.orphans += n) },
      { run: () => this.retentionBatch(now).then(turn), add: (n) => (result.expired += n) },
      { run: () => this.claimBatch(now), add: () => undefined, sink: true },
      { run: () => this.objectBatch(), add: (n) => (result.objectsRemoved += n), sink: true },
    ];
    let pending = kinds;
    let rounds = 0;
    do {
      const more = new Set<(typeof kinds)[number]>();
      for (const kind of pending) {
        const outcome = await kind.run();
        kind.add(outcome.done);
        if (outcome.more) more.add(kind);
      }
      const feeding = kinds.findIndex((k) => more.has(k));
      pending = feeding < 0 ? [] : kinds.filter((k, i) => more.has(k) || (k.sink && i > feeding));
      rounds++;
    } while (pending.length > 0 && Date.now() < deadline && proceed());
    const { orphans, expired, objectsRemoved } = result;
    const legacy = served.has('');
    const summary = { ...result, rounds, tenants: served.size - (legacy ? 1 : 0), legacy };
    if (orphans || expired || objectsRemoved) this.logger.info(summary, 'artifact sweep removed data');
    if (pending.length > 0) this.logger.warn(summary, 'artifact sweep left due work for the next pass');
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

  /** The next tenant's turn of orphans: up to a batch of its uploads never completed, outputs never committed. */
  private orphanBatch(now: Date): Promise<BatchOutcome & { lane?: SweepLane }> {
    const cutoff = now.getTime() - this.options.orphanGraceMs;
    return this.orphanTurns.step(cutoff, (lane) =>
      this.sweepIndex(UNCOMMITTED_INDEX, lane, cutoff, 'orphan', async (id) => {
        if (await this.artifacts.delete(id, ['staged', 'pending'])) return 'deleted';
        // A record that vanished or got committed meanwhile leaves a stale index entry: drop it.
        await dropEntry(this.redis, UNCOMMITTED_INDEX, lane, id);
        return 'moved';
      }),
    );
  }

  /** The next tenant's turn of retention: up to a batch of its committed artifacts past retention. */
  private async retentionBatch(now: Date): Promise<BatchOutcome & { lane?: SweepLane }> {
    if (this.options.retentionMs <= 0) return { done: 0, more: false };
    const cutoff = now.getTime() - this.options.retentionMs;
    return this.retentionTurns.step(cutoff, (lane) =>
      this.sweepIndex(CREATED_INDEX, lane, cutoff, 'retention', async (id) => {
        const record = await this.artifacts.get(id);
        if (!record) {
          await dropEntry(this.redis, CREATED_INDEX, lane, id);
          return 'moved';
        }
        // Uncommitted ones are the orphan sweep's. Left in place, a batch of them at the front of the index
        // (a grace longer than retention, uploads still running) would be read again every pass and hide the
        // committed ones behind them: looked at again one grace later, when the orphan sweep has taken them or
        // they were committed (then past retention, so deleted at that turn).
        if (record.state !== 'committed') {
          await rescheduleEntry(
            this.redis,
            CREATED_INDEX,
            record.tenant,
            id,
            cutoff + this.options.orphanGraceMs,
          );
          return 'moved';
        }
        // A job's output is kept while its job may still read it: retention counts from the job's finish.
        const counted = record.jobId ? await this.jobRetentionStart(record.jobId, now) : null;
        if (counted !== null && counted > cutoff) {
          // into its tenant's index (a legacy entry moves there): looked at again when that time is due
          await rescheduleEntry(this.redis, CREATED_INDEX, record.tenant, id, counted);
          return 'moved';
        }
        return (await this.artifacts.delete(id, ['committed'])) ? 'deleted' : 'kept';
      }),
    );
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
   * Hands `remove` up to a batch of the ids the lane of `index` scores at or before `cutoff`; counts those it deleted. One
   * that fails is logged and stays in the index, so the next sweep tries it again. `more` only when the batch
   * was full and changed the index (deleted, or moved an entry out of the due range): a batch that only failed
   * or kept its entries would be the same next time.
   */
  private async sweepIndex(
    index: SweepIndex,
    lane: SweepLane,
    cutoff: number,
    sweep: 'orphan' | 'retention',
    remove: (id: string) => Promise<EntryOutcome>,
  ): Promise<BatchOutcome> {
    const ids = await dueEntries(this.redis, index, lane, cutoff, this.options.batchSize);
    // listed as due, found with nothing due: its place in the tenants index is put right, so it is not listed again
    if (ids.length === 0 && lane !== null) await dropEntry(this.redis, index, lane, '');
    let deleted = 0;
    let moved = 0;
    for (const id of ids) {
      try {
        const outcome = await remove(id);
        if (outcome === 'deleted') deleted++;
        else if (outcome === 'moved') moved++;
      } catch (e) {
        this.logger.warn(
          { artifactId: id, err: describe(e) },
          `${sweep} sweep could not delete an artifact; will retry`,
        );
      }
    }
    return { done: deleted, more: ids.length >= this.options.batchSize && deleted + moved > 0 };
  }
}
