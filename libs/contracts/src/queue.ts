import { z } from 'zod';
import { IsoDateTime, JsonObject } from './json.js';
import { ResourceClass } from './manifest.js';
import { Traceparent } from './trace.js';

/** BullMQ queue per resource class. */
export const NODE_QUEUES: Record<ResourceClass, string> = { gpu: 'sy-nodes-gpu', cpu: 'sy-nodes-cpu' };

/**
 * BullMQ job id of one attempt: repeating an enqueue of the same attempt is a no-op.
 * BullMQ forbids ':' in custom ids; node ids never contain '.', job ids are uuids.
 */
export const attemptJobId = (jobId: string, nodeId: string, attempt: number): string =>
  `${jobId}.${nodeId}.${attempt}`;

/** The parts of an `attemptJobId`, or null for anything else. */
export function parseAttemptJobId(id: string): { jobId: string; nodeId: string; attempt: number } | null {
  const m = /^([^.]+)\.([^.]+)\.(\d+)$/.exec(id);
  return m ? { jobId: m[1]!, nodeId: m[2]!, attempt: Number(m[3]) } : null;
}

/** The data of a BullMQ job: one attempt of one node, inputs already resolved. */
export const NodeAttemptPayload = z.object({
  jobId: z.string().min(1),
  tenant: z.string().min(1),
  nodeId: z.string().min(1),
  attempt: z.number().int().min(1),
  maxAttempts: z.number().int().min(1),
  task: z.string().min(1),
  taskVersion: z.string().min(1),
  inputs: JsonObject, // every $ref replaced by the upstream output value
  timeoutMs: z.number().int().positive(),
  enqueuedAt: IsoDateTime,
  /** W3C trace context of the enqueue (the job's trace), when tracing is on: the worker's attempt span's parent. */
  traceparent: Traceparent.optional(),
});
export type NodeAttemptPayload = z.infer<typeof NodeAttemptPayload>;

/** Most attempts one lease (one BullMQ job) carries: docs/decisions/0007-dispatch-cost-per-attempt.md. */
export const LEASE_MAX_ATTEMPTS = 16;

/**
 * The data of a BullMQ job that carries several attempts of one resource class (a lease, decision 0007): one
 * actor runs them in order, each checked, started and reported on its own, and hands the unstarted rest back to
 * the tail of the queue when its time slice is over or it stops leasing. BullMQ pays its per-job work (add,
 * fetch, lock, finish: ≈ 48 Redis commands) once per lease instead of once per attempt.
 */
export const NodeLeasePayload = z.object({
  attempts: z.array(NodeAttemptPayload).min(1).max(LEASE_MAX_ATTEMPTS),
});
export type NodeLeasePayload = z.infer<typeof NodeLeasePayload>;

/** What a lease's BullMQ job id starts with (the rest is its first attempt's id, then its dispatcher's). */
export const LEASE_JOB_ID_PREFIX = 'lease.';

/**
 * A jobs-subgraph replica's id as lease ids carry it (`lease.<first attempt id>@<replica>`): letters and digits,
 * so it never contains BullMQ's forbidden ':' nor the '.' and '@' the id is split on.
 */
export const DISPATCHER_ID_PATTERN = /^[A-Za-z0-9]{1,32}$/;

/**
 * BullMQ job id of a lease: its first attempt's id, prefixed, and the replica that popped it (`dispatcher`; the
 * reconciler re-adds a lost lease at once when that replica is dead). Deterministic: a repeated add of the same
 * lease, by its dispatcher or by the reconciler's repair, is a no-op.
 */
export const leaseIdOf = (firstAttemptId: string, dispatcher?: string): string =>
  `${LEASE_JOB_ID_PREFIX}${firstAttemptId}${dispatcher ? `@${dispatcher}` : ''}`;

export const leaseJobId = (
  first: Pick<NodeAttemptPayload, 'jobId' | 'nodeId' | 'attempt'>,
  dispatcher?: string,
): string => leaseIdOf(attemptJobId(first.jobId, first.nodeId, first.attempt), dispatcher);

/** The replica that dispatched a lease, or null (a lease id of a release before dispatchers were named). */
export const leaseDispatcher = (leaseId: string): string | null =>
  /@([A-Za-z0-9]{1,32})$/.exec(leaseId)?.[1] ?? null;
