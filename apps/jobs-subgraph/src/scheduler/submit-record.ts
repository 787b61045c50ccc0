import type { JsonObject, NodeAttemptPayload, ResourceClass, SubmitJobInput } from '#libs/contracts';
import type { PlannedJob } from '../planner/planner.js';
import { JOB_KEYS } from './keys.js';
import { resolveRefs } from './resolve-refs.js';
import {
  hashOf,
  parseStoredJob,
  parseStoredNode,
  type JobView,
  type StoredJob,
  type StoredNode,
} from './job-record.js';

/**
 * submitJob-10.lua's answer for a new job (after jobId, 1): the ready roots, those that took a dispatch slot and
 * those held in the fair stage in that step, the classes whose window the caller fills, the job as written.
 */
export function submitAnswer(rest: readonly unknown[]): {
  ready: string[];
  dispatched: string[];
  held: string[];
  fill: ResourceClass[];
  /** Classes where a tenant joined the ring under its share behind a full window (fair.lua takeBackCandidates). */
  takeBack: ResourceClass[];
  view: JobView;
} {
  const [ready, dispatched, held, fill, takeBack, jobFlat, ...nodeFlats] = rest as [
    string[],
    string[],
    string[],
    ResourceClass[],
    ResourceClass[],
    string[],
    ...string[][],
  ];
  return {
    ready,
    dispatched,
    held,
    fill,
    takeBack,
    view: {
      job: parseStoredJob(hashOf(jobFlat)),
      nodes: nodeFlats.map((flat) => parseStoredNode(hashOf(flat))),
    },
  };
}

/**
 * The job hash fields and node hashes `submitJob-10.lua` writes for a planned job (flat string maps), and the
 * output schemas its nodes refer to (ref -> schema JSON).
 */
export function submitRecord(
  tenant: string,
  input: SubmitJobInput,
  plan: PlannedJob,
  deadlineAtMs: number,
): {
  fields: Record<string, string>;
  nodes: Array<Record<string, string>>;
  outputSchemas: Record<string, string>;
} {
  const dependants = new Map<string, string[]>(plan.nodes.map((n) => [n.id, []]));
  for (const n of plan.nodes) for (const u of n.upstream) dependants.get(u)?.push(n.id);
  const fields: Record<string, string> = {
    tenant,
    feedKey: JOB_KEYS.feed(tenant),
    priority: String(input.priority ?? 0),
    nodeIds: JSON.stringify(plan.nodes.map((n) => n.id)),
    nodeCount: String(plan.nodes.length),
    succeededCount: '0',
    deadlineAt: String(deadlineAtMs),
  };
  if (plan.template) fields.template = plan.template;
  if (input.labels) fields.labels = JSON.stringify(input.labels);
  if (input.idempotencyKey) fields.idempotencyKey = input.idempotencyKey;
  const nodes = plan.nodes.map((n) => ({
    id: n.id,
    task: n.task,
    taskVersion: n.taskVersion,
    resourceClass: n.resourceClass,
    inputs: JSON.stringify(n.inputs),
    upstream: JSON.stringify(n.upstream),
    dependants: JSON.stringify(dependants.get(n.id) ?? []),
    pending: String(n.upstream.length),
    maxAttempts: String(n.attempts),
    timeoutMs: String(n.timeoutMs),
    outputSchemaRef: n.manifest.schemaHash,
  }));
  const outputSchemas: Record<string, string> = {};
  for (const n of plan.nodes)
    outputSchemas[n.manifest.schemaHash] ??= JSON.stringify(n.manifest.outputSchema);
  return { fields, nodes, outputSchemas };
}

/**
 * The fair-stage entries (FairEntry JSON, by node id) of a new job's root nodes' first attempts, so that
 * submitJob-10.lua can hold in its own step the roots the dispatch window has no room for. A root whose inputs
 * do not resolve is left out (enqueueNodes then fails it, as for any node).
 */
export function rootEntries(
  jobId: string,
  tenant: string,
  priority: number,
  plan: PlannedJob,
  nowMs: number,
): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const n of plan.nodes) {
    if (n.upstream.length > 0) continue;
    let inputs: JsonObject;
    try {
      inputs = resolveRefs(n.inputs, () => undefined);
    } catch {
      continue;
    }
    const node = { ...n, attempt: 1, maxAttempts: n.attempts };
    const payload = attemptPayload({ id: jobId, tenant }, node, inputs, nowMs);
    entries[n.id] = JSON.stringify({ tenant, priority, payload });
  }
  return entries;
}

/** What a worker gets for the node's current attempt (`inputs`: its `$ref`s resolved). */
export const attemptPayload = (
  job: Pick<StoredJob, 'id' | 'tenant'>,
  node: Pick<StoredNode, 'id' | 'attempt' | 'maxAttempts' | 'task' | 'taskVersion' | 'timeoutMs'>,
  inputs: JsonObject,
  nowMs: number,
): NodeAttemptPayload => ({
  jobId: job.id,
  tenant: job.tenant,
  nodeId: node.id,
  attempt: node.attempt,
  maxAttempts: node.maxAttempts,
  task: node.task,
  taskVersion: node.taskVersion,
  inputs,
  timeoutMs: node.timeoutMs,
  enqueuedAt: new Date(nowMs).toISOString(),
});
