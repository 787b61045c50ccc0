import type { NodeReport } from '#libs/contracts';

/**
 * Starts that can be applied together with their completion: in one batch of reports (stream order), a
 * `started` report and the `succeeded` report of the same attempt after it, with no other report of the same job
 * between them. Applying such a pair as one step (Scheduler.applyStartedAndSucceeded) leaves every job's reports
 * applied in their order, so it changes nothing but the number of steps (a fast task's two reports usually
 * arrive together). Returns index of the `started` report → index of its `succeeded` report.
 */
export function foldableStarts(reports: ReadonlyArray<NodeReport | null>): Map<number, number> {
  const folds = new Map<number, number>();
  // per job: the index of a `started` report with no report of its job after it yet
  const lastStart = new Map<string, number>();
  reports.forEach((report, i) => {
    if (!report) return;
    const open = lastStart.get(report.jobId);
    lastStart.delete(report.jobId);
    if (open !== undefined && report.type === 'succeeded') {
      const start = reports[open]!;
      if (start.nodeId === report.nodeId && start.attempt === report.attempt) {
        folds.set(open, i);
        return;
      }
    }
    if (report.type === 'started') lastStart.set(report.jobId, i);
  });
  return folds;
}
