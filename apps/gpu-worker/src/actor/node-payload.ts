import { NodeAttemptPayload } from '#libs/contracts';
import { JsonObjectFromJson } from '../runner/ipc-protocol.js';

/** NodeAttemptPayload as an actor reads it from BullMQ (JSON-parsed job data): the same contract. */
export const LeasedAttemptPayload = NodeAttemptPayload.extend({ inputs: JsonObjectFromJson });

/** The fields every report of an attempt repeats. */
export type NodePayloadRef = Pick<NodeAttemptPayload, 'jobId' | 'tenant' | 'nodeId' | 'attempt'>;

export const payloadRef = (p: NodeAttemptPayload): NodePayloadRef => ({
  jobId: p.jobId,
  tenant: p.tenant,
  nodeId: p.nodeId,
  attempt: p.attempt,
});
