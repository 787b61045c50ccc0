/**
 * Which bull-board requests the admin UI lets through. Reads are all allowed; of bull-board's actions
 * only these are on, because the jobs-subgraph's scheduler owns node state and retries (docs/architecture.md):
 *
 * - retry a FAILED BullMQ job (one, or all failed jobs of a queue): it runs the same attempt again; its
 *   reports count only while it is still the node's current attempt (the scheduler may already have
 *   failed it as CRASHED and enqueued a new attempt);
 * - clean (remove) COMPLETED or FAILED BullMQ jobs (one, or all of a queue): node state lives in the
 *   scheduler's keys, not in BullMQ's finished jobs.
 *
 * Everything else is refused: adding or editing jobs would bypass the planner and tenancy, retrying a
 * completed attempt re-runs finished work, removing waiting jobs only makes the reconciler enqueue them
 * again, and pausing, emptying or obliterating a queue starves every tenant's jobs into UNSCHEDULABLE.
 * The policy denies by default: anything not matched exactly below (other case, trailing slash...) is refused.
 */
export type AdminAction = 'retry-failed' | 'clean-finished' | 'retry-job' | 'clean-job';

export type AdminRequest =
  | { kind: 'read' }
  | { kind: 'action'; action: 'retry-failed' | 'clean-finished'; queueName: string; status: string }
  | { kind: 'action'; action: 'retry-job' | 'clean-job'; queueName: string; jobId: string }
  | { kind: 'refused' };

/** BullMQ job states in which a single-job action may run. */
export const JOB_STATES_FOR: Record<'retry-job' | 'clean-job', readonly string[]> = {
  'retry-job': ['failed'],
  'clean-job': ['completed', 'failed'],
};

export const ENABLED_ADMIN_ACTIONS =
  'retry failed jobs (one or all), clean completed or failed jobs (one or all); reads of everything';

const READ_METHODS = new Set(['GET', 'HEAD']);

/** `path` is relative to the admin mount (`/api/queues/sy-nodes-cpu/retry/failed`), as Express gives it. */
export function classifyAdminRequest(method: string, path: string): AdminRequest {
  if (READ_METHODS.has(method)) return { kind: 'read' };
  if (method !== 'PUT') return { kind: 'refused' };
  const segments = path.split('/');
  if (segments.length !== 6 || segments[0] !== '' || segments[1] !== 'api' || segments[2] !== 'queues')
    return { kind: 'refused' };
  const [queueName, a, b] = [decode(segments[3]!), segments[4]!, segments[5]!];
  if (!queueName || !a || !b) return { kind: 'refused' };
  if (a === 'retry' && b === 'failed')
    return { kind: 'action', action: 'retry-failed', queueName, status: b };
  if (a === 'clean' && (b === 'completed' || b === 'failed'))
    return { kind: 'action', action: 'clean-finished', queueName, status: b };
  // The bulk routes above take precedence in bull-board too, so `/retry/...` and `/clean/...` never name a job.
  if (a === 'retry' || a === 'clean') return { kind: 'refused' };
  const jobId = decode(a);
  if (!jobId) return { kind: 'refused' };
  if (b === 'retry') return { kind: 'action', action: 'retry-job', queueName, jobId };
  if (b === 'clean') return { kind: 'action', action: 'clean-job', queueName, jobId };
  return { kind: 'refused' };
}

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/**
 * Whether a state-changing request comes from another site (CSRF: a browser sends remembered Basic
 * credentials with any request to this origin). Fetch metadata first; without it, Origin against Host;
 * a request with neither (curl, scripts) is not from a browser page.
 */
export function isCrossSite(headers: { 'sec-fetch-site'?: string; origin?: string; host?: string }): boolean {
  const site = headers['sec-fetch-site'];
  if (site) return site !== 'same-origin' && site !== 'none';
  const origin = headers.origin;
  if (!origin) return false;
  try {
    return new URL(origin).host !== headers.host;
  } catch {
    return true;
  }
}
