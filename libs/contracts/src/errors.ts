import { z } from 'zod';

/** `extensions.code` values a client can see (../shared/api/contract.graphql). */
export const ApiErrorCode = z.enum([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'INVALID_GRAPH',
  'RATE_LIMITED',
  'QUERY_TOO_COMPLEX',
  'QUOTA_EXCEEDED', // a per-tenant quota refused the request (extensions: limit, used, max)
  'CONFLICT',
  'UNAVAILABLE',
  'INTERNAL_SERVER_ERROR',
]);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

/** Codes of `JobError` (why a node or job failed). */
export const JobErrorCode = z.enum([
  'TASK_FAILED', // the task threw or reported failure
  'INVALID_INPUT', // the resolved inputs did not validate (never retried)
  'INVALID_OUTPUT', // the task returned outputs that do not match its schema
  'TIMEOUT', // start-to-close: ran longer than its timeout
  'STUCK', // heartbeat: the runner stopped reporting
  'CRASHED', // the runner process exited mid-attempt
  'UNSCHEDULABLE', // schedule-to-start: no live worker took the node in time or offers its task
  'DEADLINE_EXCEEDED', // the job-level deadline passed
  'STORAGE_UNAVAILABLE', // object storage could not be reached
  'LOCK_LOST', // the worker lost its lease on the attempt
  'UPSTREAM_FAILED', // a node this one depends on failed
  'CANCELLED',
  'TENANT_THROTTLED', // the tenant's attempts kept killing runners; held back until the retry time in the message
]);
export type JobErrorCode = z.infer<typeof JobErrorCode>;

/** Longest `JobError.message` the contract accepts. */
export const JOB_ERROR_MESSAGE_MAX = 4000;

/**
 * The one place a JobError message is clipped to what the contract allows (never empty: `fallback`, usually
 * the code, stands in for a blank message). Longer text ends in an ellipsis so a reader sees it was cut.
 */
export function jobErrorMessage(text: string, fallback = 'failed'): string {
  const message = text || fallback;
  return message.length <= JOB_ERROR_MESSAGE_MAX
    ? message
    : `${message.slice(0, JOB_ERROR_MESSAGE_MAX - 1)}…`;
}

export const JobError = z.object({
  code: JobErrorCode,
  message: z.string().min(1).max(JOB_ERROR_MESSAGE_MAX),
  retryable: z.boolean(),
});
export type JobError = z.infer<typeof JobError>;

export const GraphErrorCode = z.enum([
  'CYCLE',
  'UNKNOWN_TASK',
  'VERSION_UNAVAILABLE',
  'INVALID_INPUT',
  'BAD_REFERENCE',
  'DUPLICATE_NODE',
  'UNKNOWN_DEPENDENCY',
  'UNKNOWN_TEMPLATE',
  'EMPTY_GRAPH',
  'TOO_LARGE',
]);
export type GraphErrorCode = z.infer<typeof GraphErrorCode>;

export const GraphError = z.object({
  code: GraphErrorCode,
  message: z.string(),
  nodeId: z.string().optional(),
  path: z.string().optional(),
});
export type GraphError = z.infer<typeof GraphError>;
