import { attemptJobId, type NodeReport, type ResourceClass } from '#libs/contracts';
import type { NodeEnqueuer } from './enqueuer.js';
import type { SchedulerMetrics } from './scheduler-ports.js';

export type StartedReport = Extract<NodeReport, { type: 'started' }>;
export type SucceededReport = Extract<NodeReport, { type: 'succeeded' }>;

export type RunTransition = (
  name: 'startAttempt',
  jobId: string,
  extraKeys: string[],
  args: Array<string | number>,
) => Promise<unknown>;

export interface StartOutcome {
  applied: boolean;
  resourceClass?: ResourceClass;
  /** The step freed the attempt's dispatch slot itself (else the caller tells the enqueuer: taken()). */
  slotFreed: boolean;
}

/**
 * Applies a `started` report (lua/startAttempt-5.lua): the node RUNNING and, with the fair stage, the
 * attempt's dispatch slot freed in the same step; the window is filled only when attempts wait for the room.
 */
export async function applyStart(
  run: RunTransition,
  deps: { enqueuer: NodeEnqueuer; metrics: SchedulerMetrics; now: () => number },
  { jobId, nodeId, attempt, workerId }: StartedReport,
): Promise<StartOutcome> {
  const stage = deps.enqueuer.fairStage;
  const [result, rc, queuedAt, released, fill] = (await run(
    'startAttempt',
    jobId,
    [],
    [nodeId, attempt, workerId, attemptJobId(jobId, nodeId, attempt), stage?.keyPrefix ?? ''],
  )) as [string, ResourceClass | '', string, number, number];
  const applied = result === 'ok';
  const resourceClass = rc || undefined;
  // schedule-to-start: from when the node became eligible (its queuedAt, ms) to this applied start
  if (applied && queuedAt) deps.metrics.attemptStarted(Math.max(0, deps.now() - Number(queuedAt)));
  const slotFreed = resourceClass !== undefined && stage !== undefined;
  // not awaited: dispatch() never throws (it logs)
  if (slotFreed && Number(released) === 1 && Number(fill) === 1) void deps.enqueuer.dispatch?.(resourceClass);
  return { applied, resourceClass, slotFreed };
}

/** What completeAttempt-8.lua did for a start folded into it (see its header). */
export type FoldedStart = [
  applied: number,
  released: number,
  fill: number,
  queuedAt: string,
  resourceClass: ResourceClass | '',
];

/**
 * What follows a start folded into the completion step, as applyStart does for its own step: metrics, the window
 * filled when attempts wait for the freed slot, and an enqueuer without the fair stage told the attempt was taken.
 */
export function settleFoldedStart(
  deps: { enqueuer: NodeEnqueuer; metrics: SchedulerMetrics; now: () => number },
  { jobId, nodeId, attempt }: StartedReport,
  [applied, released, fill, queuedAt, rc]: FoldedStart,
): void {
  deps.metrics.reportApplied('started', Number(applied) === 1 ? 'applied' : 'stale');
  if (Number(applied) === 1 && queuedAt)
    deps.metrics.attemptStarted(Math.max(0, deps.now() - Number(queuedAt)));
  if (!deps.enqueuer.fairStage || !rc) {
    // the step could not free the slot (no fair stage, or no node to name the class): the enqueuer looks
    // (not awaited: taken() logs failures)
    void deps.enqueuer.taken?.(jobId, nodeId, attempt, rc || undefined);
  } else if (Number(released) === 1 && Number(fill) === 1) void deps.enqueuer.dispatch?.(rc);
}
