import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ContractViolation, NodeReport, REDIS_KEYS, REPORT_FIELD, parseReportEntry } from '#libs/contracts';
import { unavailableWhenDisconnected } from '#libs/errors';
import { disconnectRedis } from '#libs/redis';
import { applyInTrace } from './job-tracing.js';
import { foldableStarts } from './report-folding.js';
import type { Scheduler } from './scheduler.js';
import type { StartedReport } from './start-step.js';
import { NO_METRICS, type SchedulerLogger, type SchedulerMetrics } from './scheduler-ports.js';

export interface ReportConsumerOptions {
  /** Blocking read timeout: bounds how long stop() waits for the loop (reads return at once when reports arrive). */
  blockMs: number;
  batch: number;
  /** Entries pending longer than this on any consumer (a dead replica) are claimed. */
  claimIdleMs: number;
  /**
   * Acknowledged reports are not needed again: at most this often (ms) the stream is trimmed to the oldest
   * entry the group still needs (the oldest pending one, else the first not yet delivered).
   */
  trimEveryMs: number;
  /**
   * A report whose apply fails this many times for a reason other than Redis being unreachable (a bug, corrupt
   * state) is acknowledged and logged as dropped, so it cannot block every report behind it.
   */
  maxApplyFailures: number;
}

export const DEFAULT_REPORT_CONSUMER_OPTIONS: ReportConsumerOptions = {
  blockMs: 5_000,
  batch: 64,
  claimIdleMs: 30_000,
  trimEveryMs: 1_000,
  maxApplyFailures: 5,
};

type StreamEntry = [id: string, fields: string[]];

/** One report of a batch (null: an entry with nothing to apply, only to acknowledge) and the entry it came in. */
interface BatchItem {
  entryId: string;
  report: NodeReport | null;
}

/** The old length cap, kept only for a stream that has consumer groups besides the scheduler's. */
const REPORTS_MAXLEN_WITH_OTHER_GROUPS = 100_000;

/**
 * Reads NodeReports from REDIS_KEYS.reports through the scheduler consumer group (XREADGROUP BLOCK: woken by
 * new entries, never polling), applies each, then XACKs it. An entry whose apply failed stays pending and is
 * read again (own pending first), or claimed by another replica with XAUTOCLAIM if this one dies.
 */
export class ReportConsumer {
  readonly consumerName = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private running = false;
  private readonly applyFailures = new Map<string, number>();
  /** Entries read but not yet acknowledged: how many of their reports (the first ones) are already applied. */
  private readonly appliedOf = new Map<string, number>();
  private loop?: Promise<void>;
  private readonly opts: ReportConsumerOptions;
  private readonly metrics: SchedulerMetrics;
  private readonly redisUnavailable: (e: unknown) => boolean;
  private nextTrimAt = 0;

  constructor(
    /** A dedicated blocking-role connection: XREADGROUP BLOCK holds it. */
    private readonly redis: Redis,
    private readonly scheduler: Scheduler,
    private readonly logger: SchedulerLogger,
    opts: Partial<ReportConsumerOptions> = {},
    metrics?: SchedulerMetrics,
    /** The scheduler's connection too: a failed apply while either is down is an outage, not a bad report. */
    schedulerRedis?: Redis,
  ) {
    this.opts = { ...DEFAULT_REPORT_CONSUMER_OPTIONS, ...opts };
    this.metrics = metrics ?? NO_METRICS;
    this.redisUnavailable = unavailableWhenDisconnected(redis, ...(schedulerRedis ? [schedulerRedis] : []));
  }

  /** Starts the loop; the consumer group is created by the loop (it waits for Redis, boot does not). */
  start(): void {
    this.running = true;
    this.loop = this.run();
    this.logger.info({ consumer: this.consumerName }, 'report consumer started');
  }

  async stop(): Promise<void> {
    this.running = false;
    // the blocking read returns within blockMs; disconnecting the dedicated connection ends it at once (also a
    // read queued while Redis was reconnecting)
    disconnectRedis(this.redis);
    await this.loop?.catch(() => undefined);
  }

  private async run(): Promise<void> {
    // Own pending entries first (left by a crash of this consumer name, or by a failed apply), then new ones.
    let readPending = true;
    let nextClaimAt = 0;
    let groupReady = false;
    while (this.running) {
      try {
        if (!groupReady) {
          await ensureReportsGroup(this.redis);
          groupReady = true;
        }
        // claiming runs between reads on this same connection, so applies never interleave
        if (Date.now() >= nextClaimAt) {
          nextClaimAt = Date.now() + Math.max(1_000, this.opts.claimIdleMs / 2);
          await this.claimStale();
        }
        const res = (await this.redis.xreadgroup(
          'GROUP',
          REDIS_KEYS.reportsGroup,
          this.consumerName,
          'COUNT',
          this.opts.batch,
          'BLOCK',
          this.opts.blockMs,
          'STREAMS',
          REDIS_KEYS.reports,
          readPending ? '0' : '>',
        )) as Array<[string, StreamEntry[]]> | null;
        const entries = res?.[0]?.[1] ?? [];
        if (readPending && entries.length === 0) {
          readPending = false;
          continue;
        }
        const allApplied = await this.applyAll(entries);
        // after a failed apply, re-read our pending entries before new ones so order is kept
        readPending = !allApplied || (readPending && entries.length > 0);
        if (!allApplied) await sleep(500);
      } catch (e) {
        if (!this.running) return;
        if (isMissingGroup(e)) await ensureReportsGroup(this.redis).catch(() => undefined);
        this.logger.error({ err: (e as Error).message }, 'reading reports failed; retrying');
        await sleep(500);
      }
    }
  }

  /**
   * Applies entries, each job's in order (applyInOrder); one that could not be applied stays pending with its
   * job's later entries. The entries dealt with are acknowledged together, once (a crash before that re-applies
   * them: a repeated report is stale and changes nothing).
   */
  private async applyAll(entries: StreamEntry[]): Promise<boolean> {
    const done: string[] = [];
    try {
      return await this.applyInOrder(entries, done);
    } finally {
      if (done.length > 0) await this.redis.xack(REDIS_KEYS.reports, REDIS_KEYS.reportsGroup, ...done);
      if (entries.length > 0 && Date.now() >= this.nextTrimAt) {
        this.nextTrimAt = Date.now() + this.opts.trimEveryMs;
        await this.trimAcknowledged().catch(() => undefined);
      }
    }
  }

  /**
   * A job's reports apply one after another, in stream order; different jobs' reports apply side by side, so
   * their steps share Redis round trips instead of waiting for each other (one at a time, a batch of 64 took 64
   * round trips: the consumer fell hundreds of ms behind at 100 jobs/s, and every dispatch slot, freed by a
   * start, waited with it). Returns false when some job's report could not be applied: it and that job's later
   * reports stay pending (read again, in order); the other jobs' reports are done. An entry (one attempt's
   * reports) is acknowledged when all of its reports are done; those of it already applied are not applied again
   * when it is read again.
   */
  private async applyInOrder(entries: StreamEntry[], done: string[]): Promise<boolean> {
    const items: BatchItem[] = [];
    const left = new Map<string, number>();
    for (const [id, fields] of entries) {
      // an entry trimmed while pending has no fields: nothing to apply
      const reports = (fields ? this.parse(id, fields) : null)?.slice(this.appliedOf.get(id) ?? 0) ?? [];
      // an entry with nothing (more) to apply only needs acknowledging
      for (const report of reports.length > 0 ? reports : [null]) items.push({ entryId: id, report });
      left.set(id, Math.max(1, reports.length));
    }
    const settle = (k: number) => {
      const { entryId, report } = items[k]!;
      const n = left.get(entryId)! - 1;
      left.set(entryId, n);
      if (n === 0) {
        done.push(entryId);
        this.appliedOf.delete(entryId);
      } else if (report) this.appliedOf.set(entryId, (this.appliedOf.get(entryId) ?? 0) + 1);
    };
    const lanes = new Map<string, number[]>();
    items.forEach(({ report }, k) => {
      // an item with no report: a lane of its own
      const key = report ? `job:${report.jobId}` : `item:${k}`;
      const lane = lanes.get(key);
      if (lane) lane.push(k);
      else lanes.set(key, [k]);
    });
    const reports = items.map((item) => item.report);
    // a start applied with its completion is settled with it (pending until then)
    const folds = foldableStarts(reports);
    const startOf = new Map([...folds].map(([start, completion]) => [completion, start]));
    const applied = await Promise.all(
      [...lanes.values()].map((lane) => this.applyLane(lane, items, folds, startOf, settle)),
    );
    return applied.every(Boolean);
  }

  /** One job's reports (indexes into the batch's items, in stream order): false at the first that could not apply. */
  private async applyLane(
    lane: number[],
    items: BatchItem[],
    folds: Map<number, number>,
    startOf: Map<number, number>,
    settle: (k: number) => void,
  ): Promise<boolean> {
    for (const k of lane) {
      if (folds.has(k)) continue; // settled with its completion
      const { entryId: id, report } = items[k]!;
      const s = startOf.get(k);
      if (report) {
        const start = s === undefined ? undefined : (items[s]!.report as StartedReport);
        try {
          await applyInTrace(report, () =>
            start && report.type === 'succeeded'
              ? this.scheduler.applyStartedAndSucceeded(start, report)
              : this.scheduler.applyReport(report),
          );
          this.applyFailures.delete(id);
        } catch (e) {
          const err = (e as Error).message;
          const where = { entry: id, jobId: report.jobId, nodeId: report.nodeId, type: report.type, err };
          const failures = this.redisUnavailable(e) ? 0 : (this.applyFailures.get(id) ?? 0) + 1;
          if (failures < this.opts.maxApplyFailures) {
            if (failures > 0) this.applyFailures.set(id, failures);
            this.logger.error(where, 'applying a report failed; it stays pending and is retried');
            return false;
          }
          this.applyFailures.delete(id);
          this.metrics.reportApplied(report.type, 'rejected');
          this.logger.error(
            { ...where, failures, ...(s === undefined ? {} : { with: items[s]!.entryId }) },
            'report dropped: applying it kept failing',
          );
        }
      }
      if (s !== undefined) settle(s);
      settle(k);
    }
    return true;
  }

  /**
   * Drops the entries every consumer of the group has acknowledged: those before the oldest pending entry, or,
   * with none pending, up to the last one delivered. Entries not yet delivered or still pending always stay.
   */
  private async trimAcknowledged(): Promise<void> {
    const [[, groups], [, pending]] = (await this.redis
      .pipeline()
      .xinfo('GROUPS', REDIS_KEYS.reports)
      .xpending(REDIS_KEYS.reports, REDIS_KEYS.reportsGroup)
      .exec()) as [[unknown, unknown[][]], [unknown, [number, string | null, string | null, unknown]]];
    // another group on the stream would need its own entries: then only a length cap, as a backstop
    if (groups.length !== 1) {
      await this.redis.xtrim(REDIS_KEYS.reports, 'MAXLEN', '~', REPORTS_MAXLEN_WITH_OTHER_GROUPS);
      return;
    }
    const group = groups.find((g) => g[g.indexOf('name') + 1] === REDIS_KEYS.reportsGroup);
    const lastDelivered = group ? String(group[group.indexOf('last-delivered-id') + 1]) : null;
    if (!lastDelivered || !/^\d+-\d+$/.test(lastDelivered)) return;
    const [ms, seq] = lastDelivered.split('-');
    const minId = pending[0] > 0 && pending[1] ? pending[1] : `${ms}-${BigInt(seq!) + 1n}`;
    await this.redis.xtrim(REDIS_KEYS.reports, 'MINID', minId);
  }

  /** The entry's reports, or null when it does not parse: all of one job (reportEntryFields), each a NodeReport. */
  private parse(id: string, fields: string[]): NodeReport[] | null {
    try {
      const reports = parseReportEntry(fields);
      if (reports.length === 0) throw new Error(`entry has no field "${REPORT_FIELD}"`);
      if (reports.some((r) => r.jobId !== reports[0]!.jobId))
        throw new Error('entry holds reports of several jobs');
      return reports;
    } catch (e) {
      // a malformed entry can never apply: acknowledge it so it does not block the stream, and say so loudly
      this.metrics.reportApplied('invalid', 'rejected');
      this.logger.error(
        { entry: id, err: e instanceof ContractViolation || e instanceof Error ? e.message : String(e) },
        'report rejected: it does not parse',
      );
      return null;
    }
  }

  /** Claims entries a dead replica left pending, and applies them. */
  private async claimStale(): Promise<void> {
    if (!this.running) return;
    try {
      let cursor = '0-0';
      do {
        const [next, entries] = (await this.redis.xautoclaim(
          REDIS_KEYS.reports,
          REDIS_KEYS.reportsGroup,
          this.consumerName,
          this.opts.claimIdleMs,
          cursor,
          'COUNT',
          this.opts.batch,
        )) as [string, StreamEntry[], string[]?];
        if (entries.length > 0) {
          this.logger.warn({ count: entries.length }, 'claimed reports left pending by another consumer');
          if (!(await this.applyAll(entries))) return;
        }
        cursor = next;
      } while (cursor !== '0-0' && this.running);
    } catch (e) {
      if (this.running) this.logger.warn({ err: (e as Error).message }, 'claiming stale reports failed');
    }
  }
}

/** Creates the consumer group (and the stream) if missing; reading starts from the stream's beginning. */
export async function ensureReportsGroup(redis: Redis): Promise<void> {
  try {
    await redis.xgroup('CREATE', REDIS_KEYS.reports, REDIS_KEYS.reportsGroup, '0', 'MKSTREAM');
  } catch (e) {
    if (!(e instanceof Error) || !e.message.includes('BUSYGROUP')) throw e;
  }
}

const isMissingGroup = (e: unknown) => e instanceof Error && e.message.includes('NOGROUP');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
