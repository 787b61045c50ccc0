import { z } from 'zod';
import { JobError } from './errors.js';
import { IsoDateTime, JsonObject } from './json.js';
import { Traceparent } from './trace.js';
import { parseContract } from './parse.js';
import { streamFieldValues } from './stream-entry.js';

/**
 * What a worker tells the scheduler about an attempt. Workers append reports to one Redis stream
 * (REDIS_KEYS.reports); the scheduler applies them atomically and is the only writer of job state.
 * Every report names its attempt, so stale ones (an older attempt) change nothing.
 */
const base = {
  jobId: z.string().min(1),
  tenant: z.string().min(1),
  nodeId: z.string().min(1),
  attempt: z.number().int().min(1),
  workerId: z.string().min(1),
  at: IsoDateTime,
  /** W3C trace context of the attempt that reports, when tracing is on: the scheduler's apply joins that trace. */
  traceparent: Traceparent.optional(),
};

/**
 * How long the attempt ran on its runner (ms). On `failed` and `released` it also says the attempt ran (a
 * `succeeded` one always did), so its `started` was sent before: a scheduler that applies the end first starts
 * the attempt from it (at `at` less `ranMs`). Without it, such a report may be a refusal before the run
 * (cancelled, throttled, draining), and that attempt never started.
 */
const ranMs = z.number().int().nonnegative().optional();

export const NodeReport = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('started'), actorId: z.string() }),
  z.object({
    ...base,
    type: z.literal('progress'),
    progress: z.number().min(0).max(1),
    message: z.string().max(2000).optional(),
  }),
  z.object({
    ...base,
    type: z.literal('log'),
    level: z.enum(['debug', 'info', 'warn', 'error']),
    message: z.string().max(8000),
  }),
  z.object({
    ...base,
    type: z.literal('succeeded'),
    outputs: JsonObject,
    artifactIds: z.array(z.string()), // staged artifacts this attempt made; committed with the outputs
    /** How long the task ran on its runner (ms): the scheduler sizes leases by it (decision 0007). */
    ranMs,
  }),
  z.object({ ...base, type: z.literal('failed'), error: JobError, ranMs }),
  /** The attempt was handed back unfinished (worker draining): requeue it without counting a failure. */
  z.object({ ...base, type: z.literal('released'), reason: z.string(), ranMs }),
]);
export type NodeReport = z.infer<typeof NodeReport>;
export type NodeReportType = NodeReport['type'];

/**
 * An entry of the reports stream holds the reports of ONE attempt, in the order they were sent, each as JSON in
 * a field `r` (a field name may repeat in a stream entry). A worker writes an attempt's reports sent together
 * in one entry (a short task's `started` and its end: one XADD, one entry to read and acknowledge).
 */
export const REPORT_FIELD = 'r';

/** The fields of an entry holding these report bodies (JSON), in order. */
export function reportEntryFields(bodies: readonly string[]): string[] {
  return bodies.flatMap((body) => [REPORT_FIELD, body]);
}

/** The report bodies (JSON, not yet parsed) of an entry's fields, in order. */
export function reportBodiesOf(fields: readonly string[]): string[] {
  return streamFieldValues(fields, REPORT_FIELD);
}

/** The reports of an entry's fields, in order, each parsed as a NodeReport (throws on one that is not). */
export function parseReportEntry(fields: readonly string[]): NodeReport[] {
  return reportBodiesOf(fields).map((body) => parseContract(NodeReport, 'NodeReport', JSON.parse(body)));
}

/** Published by the scheduler when running attempts must stop (cancelJob, deadline). */
export const CancelNotice = z.object({
  jobId: z.string(),
  nodeId: z.string().optional(), // absent: every node of the job
  reason: z.string(),
});
export type CancelNotice = z.infer<typeof CancelNotice>;
