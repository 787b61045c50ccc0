import { z } from 'zod';
import {
  IsoDateTime,
  JobError,
  JobStatus,
  JsonObject,
  JsonSchema,
  NodeStatus,
  ResourceClass,
  parseContract,
} from '#libs/contracts';

/** A JSON-encoded field of a Redis hash, parsed with `inner`. */
const jsonField = <S extends z.ZodType>(inner: S) =>
  z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not JSON' });
        return z.NEVER;
      }
    })
    .pipe(inner);

const int = z.coerce.number().int();

/** The job hash as the scheduler writes it (JOB_KEYS.job). */
export const StoredJob = z.object({
  id: z.string(),
  tenant: z.string(),
  feedKey: z.string(),
  status: JobStatus,
  template: z.string().optional(),
  labels: jsonField(JsonObject.nullable()).optional(),
  priority: int,
  nodeIds: jsonField(z.array(z.string())),
  nodeCount: int,
  succeededCount: int.optional(),
  seq: int,
  deadlineAt: int,
  createdAt: IsoDateTime,
  startedAt: IsoDateTime.optional(),
  finishedAt: IsoDateTime.optional(),
  error: jsonField(JobError).optional(),
  idempotencyKey: z.string().optional(),
  /** The submit's trace context (tracing on): every attempt of the job is enqueued in that trace. */
  traceparent: z.string().optional(),
});
export type StoredJob = z.infer<typeof StoredJob>;

/**
 * One node hash (JOB_KEYS.node). The task's output schema, recorded at plan time, is in JOB_KEYS.outputSchemas
 * under `outputSchemaRef`; nodes written before that hold it inline (`outputSchema`).
 */
export const StoredNode = z.object({
  id: z.string(),
  task: z.string(),
  taskVersion: z.string(),
  resourceClass: ResourceClass,
  status: NodeStatus,
  inputs: jsonField(JsonObject),
  upstream: jsonField(z.array(z.string())),
  dependants: jsonField(z.array(z.string())),
  pending: int,
  attempt: int,
  failures: int,
  maxAttempts: int,
  timeoutMs: int,
  outputSchemaRef: z.string().optional(),
  outputSchema: jsonField(JsonSchema).optional(),
  progress: z.coerce.number(),
  message: z.string().optional(),
  outputs: jsonField(JsonObject).optional(),
  error: jsonField(JobError).optional(),
  workerId: z.string().optional(),
  queuedAt: int.optional(),
  startedAt: IsoDateTime.optional(),
  /**
   * When the run on the current worker began, when that is not startedAt: BullMQ redelivered the attempt to
   * another worker after a stall (lua/startAttempt-5.lua). Internal: the views show startedAt.
   */
  runStartedAt: IsoDateTime.optional(),
  finishedAt: IsoDateTime.optional(),
});
export type StoredNode = z.infer<typeof StoredNode>;

export const parseStoredJob = (hash: Record<string, string>): StoredJob =>
  parseContract(StoredJob, 'StoredJob', hash);
export const parseStoredNode = (hash: Record<string, string>): StoredNode =>
  parseContract(StoredNode, 'StoredNode', hash);

/** A hash as a flat field, value, … list (HGETALL's and the scripts' form) as an object. */
export function hashOf(flat: readonly string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!;
  return hash;
}

/** A job with its nodes in plan (topological) order. */
export interface JobView {
  job: StoredJob;
  nodes: StoredNode[];
}

/** 0..1 over all nodes: a finished node counts fully, a running one by its reported progress. */
export function jobProgress(nodes: ReadonlyArray<Pick<StoredNode, 'status' | 'progress'>>): number {
  if (nodes.length === 0) return 0;
  const sum = nodes.reduce(
    (acc, n) => acc + (n.status === 'SUCCEEDED' ? 1 : Math.min(1, Math.max(0, n.progress))),
    0,
  );
  return sum / nodes.length;
}
