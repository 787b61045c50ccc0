import type { SubmitJobInput } from '#libs/contracts';
import type { PlannedJob } from '../planner/planner.js';
import { JOB_KEYS } from './keys.js';

/** The job hash fields and node hashes `submitJob-7.lua` writes for a planned job (flat string maps). */
export function submitRecord(
  tenant: string,
  input: SubmitJobInput,
  plan: PlannedJob,
  deadlineAtMs: number,
): { fields: Record<string, string>; nodes: Array<Record<string, string>> } {
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
    outputSchema: JSON.stringify(n.manifest.outputSchema),
  }));
  return { fields, nodes };
}
