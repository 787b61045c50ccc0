import type { NodeAttemptPayload } from '#libs/contracts';

/** The fields every report of an attempt repeats. */
export type NodePayloadRef = Pick<NodeAttemptPayload, 'jobId' | 'tenant' | 'nodeId' | 'attempt'>;

export const payloadRef = (p: NodeAttemptPayload): NodePayloadRef => ({
  jobId: p.jobId,
  tenant: p.tenant,
  nodeId: p.nodeId,
  attempt: p.attempt,
});
