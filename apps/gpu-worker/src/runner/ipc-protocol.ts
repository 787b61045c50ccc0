import { z } from 'zod';
import { Device, JobError, JobErrorCode, JsonObject, TaskManifest } from '#libs/contracts';

/**
 * The typed protocol between an actor (parent) and its task runner process (child), over Node's IPC
 * channel. Both sides parse every message with these schemas (parseContract), nothing by hand.
 *
 * parent → child: run (one attempt at a time), cancel (abort ctx.signal with a reason).
 * child → parent: ready (after loading tasks, with their manifests) or boot-failed; heartbeat (from a
 * timer, so a blocked event loop stops them); progress, log, artifact while running; then exactly one
 * result or error per run.
 */

export const AttemptRef = z.object({
  jobId: z.string().min(1),
  nodeId: z.string().min(1),
  attempt: z.number().int().min(1),
  tenant: z.string().min(1),
});
export type AttemptRef = z.infer<typeof AttemptRef>;

export const RunMessage = z.object({
  type: z.literal('run'),
  runId: z.string().min(1),
  attempt: AttemptRef,
  task: z.string().min(1),
  taskVersion: z.string().min(1),
  inputs: JsonObject,
  device: Device,
  /** Created by the parent, removed by it after the attempt whatever happened to the child. */
  workDir: z.string().min(1),
});
export type RunMessage = z.infer<typeof RunMessage>;

export const CancelMessage = z.object({
  type: z.literal('cancel'),
  runId: z.string().min(1),
  /** Why, as the attempt's error code if the task gives up because of it (CANCELLED, TIMEOUT...). */
  code: JobErrorCode,
  reason: z.string(),
});
export type CancelMessage = z.infer<typeof CancelMessage>;

export const ParentMessage = z.discriminatedUnion('type', [RunMessage, CancelMessage]);
export type ParentMessage = z.infer<typeof ParentMessage>;

export const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof LogLevel>;

export const ChildMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), pid: z.number().int(), tasks: z.array(TaskManifest) }),
  z.object({ type: z.literal('boot-failed'), message: z.string() }),
  z.object({ type: z.literal('heartbeat'), at: z.number() }),
  z.object({
    type: z.literal('progress'),
    runId: z.string(),
    fraction: z.number().min(0).max(1),
    message: z.string().max(2000).optional(),
  }),
  z.object({ type: z.literal('log'), runId: z.string(), level: LogLevel, message: z.string().max(8000) }),
  z.object({ type: z.literal('artifact'), runId: z.string(), artifactId: z.string(), name: z.string() }),
  z.object({
    type: z.literal('result'),
    runId: z.string(),
    outputs: JsonObject,
    artifactIds: z.array(z.string()),
  }),
  z.object({ type: z.literal('error'), runId: z.string(), error: JobError }),
]);
export type ChildMessage = z.infer<typeof ChildMessage>;
