import type { NodeAttemptPayload, NodeReport } from '#libs/contracts';
import {
  activeTraceId,
  attemptSpanAttributes,
  currentTraceparent,
  inSpan,
  SpanKind,
  traceIdOf,
} from '#libs/observability';

/**
 * Enqueues an attempt inside a producer span of the job's trace, and stores that span's context in the
 * payload (`traceparent`), where the worker picks it up. The span's parent is the active span when it is
 * in the job's trace (a report being applied made this node ready), else the submit's context stored with
 * the job (the reconciler, a retryJob request with a trace of its own). A job without one (tracing off at
 * submit) is enqueued as before, without a span.
 */
export function inEnqueueSpan(
  payload: NodeAttemptPayload,
  jobTraceparent: string | undefined,
  enqueue: () => Promise<void>,
): Promise<void> {
  if (!jobTraceparent) return enqueue();
  const inJobTrace = activeTraceId() === traceIdOf(jobTraceparent);
  return inSpan(
    `enqueue ${payload.task}`,
    {
      parent: inJobTrace ? undefined : jobTraceparent,
      kind: SpanKind.PRODUCER,
      attributes: attemptSpanAttributes(payload),
    },
    async () => {
      const traceparent = currentTraceparent();
      if (traceparent) payload.traceparent = traceparent;
      await enqueue();
    },
  );
}

/**
 * Applies a worker's report as a consumer span in the attempt's trace (the report carries it). Progress and
 * log reports (many per attempt, no transition of interest) and reports without a traceparent (tracing off
 * on the worker) are applied without a span.
 */
export function applyInTrace<T>(report: NodeReport, apply: () => Promise<T>): Promise<T> {
  if (!report.traceparent || report.type === 'progress' || report.type === 'log') return apply();
  return inSpan(
    `apply report ${report.type}`,
    {
      parent: report.traceparent,
      kind: SpanKind.CONSUMER,
      attributes: {
        'switchyard.job_id': report.jobId,
        'switchyard.node_id': report.nodeId,
        'switchyard.attempt': report.attempt,
        'switchyard.report': report.type,
        'switchyard.worker_id': report.workerId,
      },
    },
    async (span) => {
      const outcome = await apply();
      span.setAttribute('switchyard.outcome', String(outcome));
      return outcome;
    },
  );
}
