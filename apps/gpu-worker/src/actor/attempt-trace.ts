import type { NodeAttemptPayload } from '#libs/contracts';
import { attemptSpanAttributes, inSpan, SpanKind, type TraceContext } from '#libs/observability';
import type { AttemptOutcome } from './attempt-execution.js';

/**
 * Runs the processing of one leased attempt inside its span, a child of the enqueue's context that the
 * scheduler stored in the payload (`traceparent`), so the attempt, its reports (AttemptReporter takes the
 * active context), its storage calls and its log lines are in the job's trace. A payload without a
 * traceparent (tracing off at the scheduler) is processed without a span.
 */
export function inAttemptSpan<T>(p: NodeAttemptPayload, process: () => Promise<T>): Promise<T> {
  if (!p.traceparent) return process();
  return inSpan(
    `attempt ${p.task}`,
    { parent: p.traceparent, kind: SpanKind.CONSUMER, attributes: attemptSpanAttributes(p) },
    process,
  );
}

/** The runner's side of the attempt (the run message, the task, its result over IPC), as a span. */
export function inRunnerSpan(runId: string, run: () => Promise<AttemptOutcome>): Promise<AttemptOutcome> {
  return inSpan('runner run', { attributes: { 'switchyard.run_id': runId } }, async (span) => {
    const outcome = await run();
    span.setAttribute('switchyard.outcome', outcome.type);
    if (outcome.type === 'failed') span.setAttribute('switchyard.error_code', outcome.error.code);
    if (outcome.runnerLost) span.setAttribute('switchyard.runner_lost', true);
    return outcome;
  });
}

/**
 * One storage call the actor makes for its runner (S3 get for `fetch`, put for `stage`), as a client span
 * of the attempt. Storage requests arrive as IPC messages, outside the attempt's async context, so the
 * parent is passed explicitly.
 */
export function inStorageSpan<T>(
  parent: TraceContext,
  req: { op: string; artifactId?: string; name?: string },
  handle: () => Promise<T>,
): Promise<T> {
  return inSpan(
    `storage ${req.op}`,
    {
      parent,
      kind: SpanKind.CLIENT,
      attributes: {
        'switchyard.storage.op': req.op,
        ...(req.artifactId ? { 'switchyard.artifact_id': req.artifactId } : {}),
        ...(req.name ? { 'switchyard.artifact_name': req.name } : {}),
      },
    },
    handle,
  );
}
