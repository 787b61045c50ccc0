import type { Redis } from 'ioredis';
import { NodeReport, parseContract, REDIS_KEYS } from '#libs/contracts';
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

/**
 * Appends NodeReports to REDIS_KEYS.reports (field `r` = JSON), the only way a worker tells the scheduler
 * anything. A failed write is retried with capped exponential backoff; after the window it throws
 * ReportUndeliverableError, never drops the report silently.
 */
export class ReportSink {
  constructor(
    private readonly redis: Redis,
    private readonly opts: ReportSinkOptions,
  ) {}

  async send(report: NodeReport): Promise<string> {
    const checked = parseContract(NodeReport, 'NodeReport', report);
    const body = JSON.stringify(checked);
    const deadline = Date.now() + this.opts.retryWindowMs;
    const base = this.opts.baseDelayMs ?? 100;
    const cap = this.opts.maxDelayMs ?? 2000;
    for (let tries = 1; ; tries++) {
      try {
        const id = await this.redis.xadd(REDIS_KEYS.reports, '*', 'r', body);
        return id!;
      } catch (err) {
        if (Date.now() >= deadline) throw new ReportUndeliverableError(checked, err, tries);
        this.opts.onRetry?.(checked, tries, err);
        const delay = Math.min(
          backoffDelayMs(tries - 1, { baseMs: base, capMs: cap }),
          Math.max(0, deadline - Date.now()),
        );
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
