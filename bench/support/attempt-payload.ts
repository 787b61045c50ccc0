import type { JsonObject, NodeAttemptPayload } from '#libs/contracts';

/** The payload of a one-node job's first and only attempt, as the scheduler would enqueue it (tenant `bench`). */
export const benchAttemptPayload = (jobId: string, task: string, inputs: JsonObject): NodeAttemptPayload => ({
  jobId,
  tenant: 'bench',
  nodeId: 'only',
  attempt: 1,
  maxAttempts: 1,
  task,
  taskVersion: '1.0.0',
  inputs,
  timeoutMs: 30_000,
  enqueuedAt: new Date().toISOString(),
});
