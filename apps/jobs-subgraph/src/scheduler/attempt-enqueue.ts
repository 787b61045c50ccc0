import { attemptJobId, type JsonObject, type NodeAttemptPayload } from '#libs/contracts';
import type { AttemptSchemas } from './attempt-schemas.js';
import type { NodeEnqueuer } from './enqueuer.js';
import type { JobView, StoredNode } from './job-record.js';
import { inEnqueueSpan } from './job-tracing.js';
import { resolveRefs, UnresolvedRefError } from './resolve-refs.js';
import type { SchedulerLogger, SchedulerMetrics } from './scheduler-ports.js';
import { attemptPayload } from './submit-record.js';

export interface AttemptEnqueueDeps {
  enqueuer: NodeEnqueuer;
  logger: SchedulerLogger;
  metrics: SchedulerMetrics;
  now: () => number;
  /** Remembers each enqueued attempt's output schema (its completion then need not read the node). */
  schemas: AttemptSchemas;
  /** Fails the node's attempt whose inputs refer to outputs that do not exist (INVALID_INPUT). */
  failUnresolved(jobId: string, nodeId: string, attempt: number, message: string): Promise<unknown>;
}

/** Root nodes submitJob already placed in the fair stage: with a dispatch slot, or held there. */
export interface PlacedAttempts {
  dispatched: ReadonlySet<string>;
  held: ReadonlySet<string>;
}

const NONE: PlacedAttempts = { dispatched: new Set(), held: new Set() };

/**
 * Puts the current attempt of each node (QUEUED or RETRYING) of `view` on its queue, `$ref`s resolved from
 * recorded outputs. `placed`: nodes whose attempt submitJob placed in the fair stage: those with a dispatch slot
 * go to the node queue directly, held ones are not enqueued again. Harmless to repeat: the queue job id is the
 * attempt's id.
 */
export async function enqueueAttempts(
  deps: AttemptEnqueueDeps,
  view: JobView,
  nodeIds: readonly string[],
  placed: PlacedAttempts = NONE,
): Promise<void> {
  const jobId = view.job.id;
  const byId = new Map(view.nodes.map((n) => [n.id, n]));
  for (const nodeId of nodeIds) {
    const node = byId.get(nodeId);
    if (!node || (node.status !== 'QUEUED' && node.status !== 'RETRYING')) continue;
    if (placed.held.has(nodeId)) {
      // held by the submit step with its payload (rootEntries built it): nothing to build or enqueue again
      rememberSchema(deps, jobId, node);
      continue;
    }
    let inputs: JsonObject;
    try {
      inputs = resolveRefs(node.inputs, (id) => byId.get(id)?.outputs);
    } catch (e) {
      if (!(e instanceof UnresolvedRefError)) throw e;
      await deps.failUnresolved(jobId, nodeId, node.attempt, e.message);
      continue;
    }
    const payload = attemptPayload(view.job, node, inputs, deps.now());
    rememberSchema(deps, jobId, node);
    const delayMs = Math.max(0, (node.queuedAt ?? 0) - deps.now());
    const attempt = { payload, resourceClass: node.resourceClass, priority: view.job.priority, delayMs };
    const direct = placed.dispatched.has(nodeId) && deps.enqueuer.enqueueDispatched;
    await inEnqueueSpan(payload, view.job.traceparent, () =>
      direct ? direct.call(deps.enqueuer, attempt) : deps.enqueuer.enqueue(attempt),
    );
    deps.logger.debug({ jobId, nodeId, attempt: node.attempt, delayMs }, 'attempt enqueued');
  }
}

/**
 * What a worker gets for the node's current attempt, `$ref`s resolved from `view` (throws UnresolvedRefError):
 * for the reconciler, which re-adds a lost lease with its attempts. The job's own trace context stands in for
 * the enqueue span's, which only the original enqueue had.
 */
export function currentAttemptPayload(view: JobView, node: StoredNode, nowMs: number): NodeAttemptPayload {
  const byId = new Map(view.nodes.map((n) => [n.id, n]));
  const payload = attemptPayload(
    view.job,
    node,
    resolveRefs(node.inputs, (id) => byId.get(id)?.outputs),
    nowMs,
  );
  return view.job.traceparent ? { ...payload, traceparent: view.job.traceparent } : payload;
}

/** The attempt's output schema, for its completion (which then need not read the node). */
function rememberSchema(deps: AttemptEnqueueDeps, jobId: string, node: JobView['nodes'][number]): void {
  if (!node.outputSchemaRef) return;
  const { outputSchemaRef, task, taskVersion } = node;
  deps.schemas.remember(attemptJobId(jobId, node.id, node.attempt), { outputSchemaRef, task, taskVersion });
}
