import type { Redis } from 'ioredis';
import { NodeReport, parseContract, REDIS_KEYS, reportEntryFields } from '#libs/contracts';
import { backoffDelayMs } from '#libs/redis';

/** A report could not be written within the retry window: the attempt must fail visibly. */
export class ReportUndeliverableError extends Error {
  readonly code = 'REPORT_UNDELIVERABLE';
  constructor(
    readonly report: NodeReport,
    cause: unknown,
    readonly tries: number,
  ) {
    super(
      `could not write the ${report.type} report of ${report.jobId}/${report.nodeId}#${report.attempt} after ${tries} tries: ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
    this.name = 'ReportUndeliverableError';
  }
}

export interface ReportSinkOptions {
  /** Keep retrying a write for this long before giving up. */
  retryWindowMs: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: (report: NodeReport, tries: number, err: unknown) => void;
}

/** Reports written in one pipeline at most (a larger backlog goes in several, in order). */
const MAX_BATCH = 64;
/** Reports of one attempt in one stream entry at most (a longer run of them takes several entries). */
const MAX_ENTRY_REPORTS = 16;

interface PendingReport {
  report: NodeReport;
  body: string;
  /** Past this the report is given up (ReportUndeliverableError). */
  deadline: number;
  tries: number;
  /** The last write error, for the retry hook and the undeliverable error. */
  err?: unknown;
  resolve: (id: string) => void;
  reject: (e: Error) => void;
}

/**
 * Appends NodeReports to REDIS_KEYS.reports (reportEntryFields), the only way a worker tells the scheduler
 * anything. Reports are written in the order `send` was called: those sent while a write is in flight go
 * together in the next pipeline (one round trip for all actors' reports); adjacent reports of the same
 * attempt share one entry (one XADD). `send` resolves once its entry is in the stream, with its id. A failed
 * write is retried, from the first report not written, with capped exponential backoff; a report whose window
 * has passed is rejected with ReportUndeliverableError, never dropped silently (a worker that dies with reports
 * queued is the same case as one that dies before writing: the scheduler's reconciler takes the attempt).
 */
export class ReportSink {
  private queue: PendingReport[] = [];
  private flushing = false;
  private flushQueued = false;

  constructor(
    private readonly redis: Redis,
    private readonly opts: ReportSinkOptions,
  ) {}

  /**
   * `built`: the report was put together by AttemptReporter from parts already parsed where they entered
   * this process (the attempt's payload, the runner's messages) or typed here, so it is written without a
   * second parse (the scheduler parses every report it reads). Anything else is parsed first.
   */
  async send(report: NodeReport, built = false): Promise<string> {
    const checked = built ? report : parseContract(NodeReport, 'NodeReport', report);
    const body = JSON.stringify(checked);
    return new Promise<string>((resolve, reject) => {
      this.queue.push({
        report: checked,
        body,
        deadline: Date.now() + this.opts.retryWindowMs,
        tries: 0,
        resolve,
        reject,
      });
      // Flushed after this turn of the event loop's microtasks: reports sent together (an attempt's `started`
      // and its end, several actors' reports) go in one pipeline, one socket write.
      if (!this.flushing && !this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => {
          this.flushQueued = false;
          if (!this.flushing) void this.flush();
        });
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, MAX_BATCH);
        const written = await this.write(batch);
        this.queue.splice(0, written);
        if (written < batch.length) await this.failed(this.queue[0]!);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Writes the batch in order; returns how many were written (resolved) before the first failure. */
  private async write(batch: PendingReport[]): Promise<number> {
    const entries = entriesOf(batch);
    let results: Array<[Error | null, unknown]>;
    try {
      if (entries.length === 1) {
        results = [[null, await this.redis.xadd(REDIS_KEYS.reports, '*', ...fieldsOf(entries[0]!))]];
      } else {
        const pipeline = this.redis.pipeline();
        for (const entry of entries) pipeline.xadd(REDIS_KEYS.reports, '*', ...fieldsOf(entry));
        results = ((await pipeline.exec()) ?? []) as Array<[Error | null, unknown]>;
      }
    } catch (err) {
      batch[0]!.tries++;
      batch[0]!.err = err;
      return 0;
    }
    let written = 0;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const [err, id] = results[i] ?? [new Error('no reply in the pipeline'), null];
      entry[0]!.tries++;
      if (err) {
        // Redis answers a pipeline in order. What follows a failed XADD is written again after it (on a lost
        // connection nothing after it was; an XADD refused alone, e.g. OOM, may give a duplicate, as a retried
        // write whose answer was lost always could: the scheduler applies a report once).
        entry[0]!.err = err;
        return written;
      }
      for (const p of entry) p.resolve(id as string);
      written += entry.length;
    }
    return written;
  }

  /** The first queued report could not be written: give it up past its window, else back off. */
  private async failed(first: PendingReport): Promise<void> {
    const err = first.err;
    if (Date.now() >= first.deadline) {
      // The attempt's later reports queued behind it go too: none is written after one of its attempt was lost.
      const r = first.report;
      const lost = this.queue.filter((q) => q === first || sameAttempt(q.report, r));
      this.queue = this.queue.filter((q) => !lost.includes(q));
      for (const q of lost) q.reject(new ReportUndeliverableError(q.report, err, Math.max(1, q.tries)));
      return;
    }
    this.opts.onRetry?.(first.report, first.tries, err);
    const base = this.opts.baseDelayMs ?? 100;
    const cap = this.opts.maxDelayMs ?? 2000;
    await new Promise((r) =>
      setTimeout(
        r,
        Math.min(
          backoffDelayMs(first.tries - 1, { baseMs: base, capMs: cap }),
          Math.max(0, first.deadline - Date.now()),
        ),
      ),
    );
  }
}

/** The batch cut into stream entries, in order: adjacent reports of the same attempt share one. */
function entriesOf(batch: PendingReport[]): PendingReport[][] {
  const entries: PendingReport[][] = [];
  for (const p of batch) {
    const last = entries.at(-1);
    if (last && last.length < MAX_ENTRY_REPORTS && sameAttempt(last[0]!.report, p.report)) last.push(p);
    else entries.push([p]);
  }
  return entries;
}

const sameAttempt = (a: NodeReport, b: NodeReport) =>
  a.jobId === b.jobId && a.nodeId === b.nodeId && a.attempt === b.attempt;

const fieldsOf = (entry: PendingReport[]) => reportEntryFields(entry.map((p) => p.body));
