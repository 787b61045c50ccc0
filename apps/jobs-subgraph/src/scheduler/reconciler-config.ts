import type { ReconcilerAction, SchedulerLogger, SchedulerMetrics } from './scheduler-ports.js';

export interface ReconcilerConfig {
  /**
   * Schedule-to-start: a node that could have been started this long without any worker starting it fails
   * UNSCHEDULABLE (time behind busy actors or held back by fair share does not count while a live worker offers
   * its task).
   */
  scheduleToStartMs: number;
  /**
   * An attempt dispatched in a lease the node queue does not know this long after is lost, even when the replica
   * that popped the lease still renews its liveness key (a live replica's add is that slow, or the lease names no
   * replica); with that key expired, it is lost at once (after enqueueGraceMs).
   */
  lostDispatchMs?: number;
  /** An attempt in no queue this soon after it was queued or dispatched is on its way there, not lost. */
  enqueueGraceMs?: number;
  /**
   * Start-to-close backstop: an attempt still running this long past its start plus its timeout, on a worker that
   * still renews its liveness key, fails TIMEOUT here (its worker's supervisor should have ended it at its
   * timeout). Default DEFAULT_CLOSE_GRACE_MS.
   */
  closeGraceMs?: number;
}

/** Past a worker's own end of a timed-out attempt (kill grace, final report) by far: ATTEMPT_CLOSE_GRACE_MS. */
export const DEFAULT_CLOSE_GRACE_MS = 60_000;

/**
 * Queuing a node and adding its attempt to a queue are two steps (a transition, then the enqueue; the dispatcher's
 * pop, then its add): a pass that falls between them finds the attempt in no queue. Well past the milliseconds
 * between the steps, well within the reconcile interval.
 */
export const DEFAULT_ENQUEUE_GRACE_MS = 2_000;

/** Records a repair the reconciler made: counted per action and logged (tests and operators read both). */
export type RecordAction = (action: ReconcilerAction, fields: object) => void;

export function actionRecorder(logger: SchedulerLogger, metrics: SchedulerMetrics): RecordAction {
  return (action, fields) => {
    metrics.reconcilerAction(action);
    logger.warn({ action, ...fields }, `reconciler: ${action.replace('_', ' ')}`);
  };
}
