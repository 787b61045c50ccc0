import { attemptJobId, type NodeReport, type ResourceClass } from '#libs/contracts';
import type { NodeEnqueuer } from './enqueuer.js';
import type { SchedulerMetrics } from './scheduler-ports.js';

export type StartedReport = Extract<NodeReport, { type: 'started' }>;
export type SucceededReport = Extract<NodeReport, { type: 'succeeded' }>;
/** A report that only a running attempt sends: it always says the attempt started. */
type RunningReport = Extract<NodeReport, { type: 'progress' | 'succeeded' }>;
/** An end that may come from a refusal before the run (then it carries no ranMs). */
type MaybeRanReport = Extract<NodeReport, { type: 'failed' | 'released' }>;

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
  deps: StartDeps,
  { jobId, nodeId, attempt, workerId }: StartedReport,
): Promise<StartOutcome> {
  const [result, rc, queuedAt, released, fill] = (await run(
    'startAttempt',
    jobId,
    [],
    [
      nodeId,
      attempt,
      workerId,
      attemptJobId(jobId, nodeId, attempt),
      deps.enqueuer.fairStage?.keyPrefix ?? '',
    ],
  )) as [string, ResourceClass | '', string, number, number];
  const applied = result === 'ok';
  const resourceClass = rc || undefined;
  return {
    applied,
    resourceClass,
    slotFreed: afterStart(deps, applied, queuedAt, resourceClass, released, fill),
  };
}

type StartDeps = { enqueuer: NodeEnqueuer; metrics: SchedulerMetrics; now: () => number };

/**
 * What follows a start step, its own, folded into a completion or applied first by a later report: the
 * schedule-to-start metric, and the window filled when attempts wait for the slot the step freed. Returns whether
 * the step freed it (it can with the fair stage and a node to name the class; otherwise the caller tells the
 * enqueuer: taken()). `startedAtMs`: when the attempt started; a start report applied now started it now.
 */
function afterStart(
  deps: StartDeps,
  applied: boolean,
  queuedAt: string,
  rc: ResourceClass | undefined,
  released: number,
  fill: number,
  startedAtMs = deps.now(),
): boolean {
  // schedule-to-start: from when the node became eligible (its queuedAt, ms) to the attempt's start
  if (applied && queuedAt) deps.metrics.attemptStarted(Math.max(0, startedAtMs - Number(queuedAt)));
  const slotFreed = rc !== undefined && deps.enqueuer.fairStage !== undefined;
  // not awaited: dispatch() never throws (it logs)
  if (slotFreed && Number(released) === 1 && Number(fill) === 1) void deps.enqueuer.dispatch?.(rc);
  return slotFreed;
}

/**
 * A start that a later report's step applies first (lua/includes/start.lua) when its attempt's `started` report
 * was not applied before it: the worker that ran the attempt, and when it started (ISO).
 */
export interface ImpliedStart {
  workerId: string;
  startedAt: string;
}

/**
 * The start a later report of the attempt implies: a `progress` or `succeeded` report always (the attempt ran), a
 * `failed` or `released` one only when it says the attempt ran (ranMs; without it, it may be a refusal before the
 * run). It started `ranMs` before the report's `at` (a progress tells no run time: by its `at` at the latest), as
 * far as that tells (the worker's clock), never after `nowMs`.
 */
export function impliedStart(report: RunningReport, nowMs: number): ImpliedStart;
export function impliedStart(report: MaybeRanReport, nowMs: number): ImpliedStart | undefined;
export function impliedStart(
  report: RunningReport | MaybeRanReport,
  nowMs: number,
): ImpliedStart | undefined {
  if ((report.type === 'failed' || report.type === 'released') && report.ranMs === undefined)
    return undefined;
  const at = Date.parse(report.at) - (report.type === 'progress' ? 0 : (report.ranMs ?? 0));
  return {
    workerId: report.workerId,
    startedAt: new Date(Number.isFinite(at) ? Math.min(at, nowMs) : nowMs).toISOString(),
  };
}

/**
 * What a step that can start an attempt answers of that start (see lua/includes/start.lua): completeAttempt-10.lua
 * of a start folded into it, or (none folded) of the start it applied first; failAttempt, releaseAttempt and
 * recordProgress of the start they applied first. The class is named whether a start was applied or not.
 */
export type StartStep = [
  applied: number,
  released: number,
  fill: number,
  queuedAt: string,
  resourceClass: ResourceClass | '',
  /**
   * completeAttempt-10.lua's 'ok' only: the attempt's occupancy of its tenant ended and tenants wait in the ring
   * (a tenant held at its share may take it): the caller fills the window of the class.
   */
  endFill?: number,
];

/** What follows a start folded into the completion step, as after applyStart's own step (afterStart). */
export function settleFoldedStart(
  deps: StartDeps,
  { jobId, nodeId, attempt }: StartedReport,
  [applied, released, fill, queuedAt, rc]: StartStep,
): void {
  deps.metrics.reportApplied('started', Number(applied) === 1 ? 'applied' : 'stale');
  const resourceClass = rc || undefined;
  if (!afterStart(deps, Number(applied) === 1, queuedAt, resourceClass, released, fill))
    // not awaited: taken() logs failures
    void deps.enqueuer.taken?.(jobId, nodeId, attempt, resourceClass);
}

/**
 * What follows a start that a later report of the attempt applied first (`step`: that report's step answer), as
 * after a start report's own step (afterStart; the step freed the slot with the fair stage, and without it the
 * late start report, stale, still tells the enqueuer). Schedule-to-start ends when the attempt started as the
 * report tells it (ImpliedStart: the worker's clock, never after now; the node's startedAt), not when the start
 * was applied: with an end, that would count the attempt's run as time spent waiting for a worker. (After a
 * progress it is the progress's `at`: later than the start by at most the run before the progress.)
 */
export function settleImpliedStart(
  deps: StartDeps,
  started: ImpliedStart | undefined,
  [applied, released, fill, queuedAt, rc]: StartStep = [0, 0, 0, '', ''],
): void {
  if (!started || Number(applied) !== 1) return;
  afterStart(deps, true, queuedAt, rc || undefined, released, fill, Date.parse(started.startedAt));
}
