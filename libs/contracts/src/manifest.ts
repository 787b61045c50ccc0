import { z } from 'zod';
import { IsoDateTime, JsonSchema } from './json.js';

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
export const SemVer = z.string().regex(SEMVER, 'expected a semver version such as 1.2.3');
export const TaskName = z
  .string()
  .regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/, 'expected a dotted name such as image.resize');

export const Resources = z.object({
  gpu: z.number().int().min(0).max(16),
  vramGb: z.number().min(0),
  cpu: z.number().positive(),
});
export type Resources = z.infer<typeof Resources>;

/** The queue class a task runs on: any GPU need puts it on the gpu queue. */
export const ResourceClass = z.enum(['gpu', 'cpu']);
export type ResourceClass = z.infer<typeof ResourceClass>;
export const resourceClassOf = (r: Resources): ResourceClass => (r.gpu > 0 ? 'gpu' : 'cpu');

export const TaskManifest = z.object({
  name: TaskName,
  version: SemVer,
  description: z.string().max(2000).optional(),
  inputSchema: JsonSchema,
  outputSchema: JsonSchema,
  /** sha256 (hex) of the canonical JSON of { inputSchema, outputSchema }. */
  schemaHash: z.string().regex(/^[0-9a-f]{64}$/),
  resources: Resources,
  timeoutMs: z.number().int().positive(),
  /** The shortest timeout that makes sense for the task: the planner refuses a node's lower timeoutSeconds. */
  minTimeoutSeconds: z.number().int().positive().optional(),
  attempts: z.number().int().min(1).max(20),
  /** Output fields that hold artifact ids (so the artifact flow can be traced). */
  artifactFields: z.array(z.string()).default([]),
});
export type TaskManifest = z.infer<typeof TaskManifest>;

export const Device = z.object({
  index: z.number().int().min(0),
  kind: z.enum(['GPU', 'CPU']),
  name: z.string(),
  uuid: z.string().optional(),
  memoryMb: z.number().int().nonnegative().optional(),
  driverVersion: z.string().optional(),
  cudaVersion: z.string().optional(),
});
export type Device = z.infer<typeof Device>;

export const ActorState = z.enum(['IDLE', 'BUSY', 'RESTARTING', 'QUARANTINED', 'STOPPED']);
export type ActorState = z.infer<typeof ActorState>;

/**
 * Whether an actor in `state` counts as able to take work: IDLE, BUSY, or RESTARTING (its runner is on its way
 * back, or the actor gets quarantined within its restart intensity). QUARANTINED and STOPPED actors take none.
 * The one definition the capability catalog and the dispatch window go by, on workers that take work at all
 * (`workerTakesWork`).
 */
export const actorTakesWork = (state: ActorState): boolean =>
  state === 'IDLE' || state === 'BUSY' || state === 'RESTARTING';

export const ActorInfo = z.object({
  id: z.string(),
  device: z.string(), // e.g. "GPU 0" or "CPU 1"
  resourceClass: ResourceClass,
  state: ActorState,
  restarts: z.number().int().nonnegative(),
  jobId: z.string().optional(),
  nodeId: z.string().optional(),
  /** While QUARANTINED: why, since when, and when the cool-down ends and the actor probes its runner. */
  quarantine: z.object({ reason: z.string().max(2000), since: IsoDateTime, until: IsoDateTime }).optional(),
});
export type ActorInfo = z.infer<typeof ActorInfo>;

export const PROTOCOL_VERSION = '1.0';

export const WorkerManifest = z.object({
  id: z.string().min(1),
  hostname: z.string(),
  protocolVersion: z.string(),
  devices: z.array(Device),
  actors: z.array(ActorInfo),
  tasks: z.array(TaskManifest),
  /**
   * The worker's readiness (its `/health/ready`): running, with actors, none of them quarantined (DESIGN: a
   * quarantined actor makes the worker report not-ready). Not what decides whether it gets work: `accepting`.
   */
  ready: z.boolean(),
  /**
   * The worker takes work at all: its supervisor is RUNNING (not starting, draining or stopped). Which tasks it
   * takes is then per resource class, from its `actors` (`actorTakesWork`), so a worker that is not ready for
   * one quarantined GPU still serves on its others. Absent from older workers' manifests: read
   * `workerTakesWork`, which falls back to `ready` for them.
   */
  accepting: z.boolean().optional(),
  startedAt: IsoDateTime,
  heartbeatAt: IsoDateTime,
});
export type WorkerManifest = z.infer<typeof WorkerManifest>;

/**
 * Whether a worker takes work at all (see `accepting`). An older worker publishes only `ready`, which was then
 * the gate (it leaves out a worker with a quarantined actor, as those workers were treated before).
 */
export const workerTakesWork = (w: Pick<WorkerManifest, 'ready' | 'accepting'>): boolean =>
  w.accepting ?? w.ready;
