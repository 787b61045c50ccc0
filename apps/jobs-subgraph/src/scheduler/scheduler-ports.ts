import type { JobStatus, NodeReportType } from '#libs/contracts';

/** The slice of a pino logger the scheduler uses. */
export interface SchedulerLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Counters the scheduler reports; the app backs them with #libs/observability metrics. */
export interface SchedulerMetrics {
  jobSubmitted(): void;
  jobFinished(status: JobStatus): void;
  reportApplied(type: NodeReportType | 'invalid', outcome: 'applied' | 'stale' | 'rejected'): void;
  reconcilerAction(action: ReconcilerAction): void;
  /** Finished jobs the retention sweep deleted. */
  jobsPurged(count: number): void;
  /** A start report applied: the node waited this long between becoming eligible and its attempt starting. */
  attemptStarted(scheduleToStartMs: number): void;
  /** A log line not appended: its job's log budget (JOB_LOG_MAX_BYTES) was spent. */
  logEventDropped(): void;
}

export type ReconcilerAction =
  | 'reenqueued'
  | 'crashed'
  /** a started attempt's worker let its liveness key expire: its queue job taken back, the attempt CRASHED */
  | 'worker_lost'
  /**
   * a lease BullMQ held active with attempts waiting and none running, its lock lapsed (its worker died between
   * two of its attempts): taken back, its waiting attempts re-added (each counted `reenqueued`)
   */
  | 'lease_reclaimed'
  /**
   * a lease that ended in the node queue (failed: a hand-back Redis refused, an undeliverable report; or completed)
   * with attempts whose node never saw a start: taken out, those attempts re-added in it at their attempt number
   * (each counted `reenqueued`), no try consumed
   */
  | 'lease_returned'
  /** start-to-close backstop: an attempt ran past its timeout and ATTEMPT_CLOSE_GRACE_MS on a live worker */
  | 'timed_out'
  | 'unschedulable'
  | 'deadline_exceeded';

export const NO_METRICS: SchedulerMetrics = {
  jobSubmitted: () => {},
  jobFinished: () => {},
  reportApplied: () => {},
  reconcilerAction: () => {},
  jobsPurged: () => {},
  attemptStarted: () => {},
  logEventDropped: () => {},
};
