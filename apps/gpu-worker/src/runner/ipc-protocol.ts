import { join } from 'node:path';
import { z } from 'zod';
import {
  attemptJobId,
  Device,
  JobError,
  JobErrorCode,
  LEASE_MAX_ATTEMPTS,
  parseContract,
  TaskManifest,
  type JsonObject,
} from '#libs/contracts';

/**
 * The typed protocol between an actor (parent) and its task runner process (child), over Node's IPC
 * channel. Both sides parse every message with these schemas (parseContract), nothing by hand.
 *
 * parent → child: run (one attempt, to an idle runner; its device and work root are the runner's, from its
 * settings), runs (a lease's attempts in one write: the runner runs them one at a time, in order, each as soon
 * as the one before it ended), cancel (abort ctx.signal with a reason; a queued run is dropped with that error),
 * withdraw (drop these queued runs; answered with `withdrawn`).
 * child → parent: ready (after loading tasks, with their manifests) or boot-failed; heartbeat (from a
 * timer, so a blocked event loop stops them); progress, log, artifact while running; then exactly one
 * result or error per run, or its id in a `withdrawn` answer. What the runner sends in one turn of its event
 * loop goes in one write, as a `batch` (decision 0007, session 9).
 */

/**
 * A JSON object that crossed a JSON channel (BullMQ's job data, Node's IPC): every value in it is JSON by
 * construction, so only its being an object is checked (the recursive JsonObject walk was a visible share
 * of the worker's and the runner's CPU per attempt); the task's own input/output schema checks the content.
 */
export const JsonObjectFromJson = z.record(z.string(), z.unknown()) as unknown as z.ZodType<JsonObject>;

export const AttemptRef = z.object({
  jobId: z.string().min(1),
  nodeId: z.string().min(1),
  attempt: z.number().int().min(1),
  tenant: z.string().min(1),
});
export type AttemptRef = z.infer<typeof AttemptRef>;

/**
 * One attempt for the runner, as it crosses the channel: only what differs from run to run. What a runner's
 * attempts share for its whole life (its device, its work root) is in its settings (RunnerSettings), and what
 * follows from the attempt (its run id, its scratch dir) each side derives with `runOrder`: the runner parses
 * less per attempt (decision 0007, session 20) and the two sides cannot disagree on either.
 */
export const RunMessage = z.object({
  type: z.literal('run'),
  attempt: AttemptRef,
  task: z.string().min(1),
  taskVersion: z.string().min(1),
  inputs: JsonObjectFromJson, // over a JSON channel; the task's input schema checks the content
});
export type RunMessage = z.infer<typeof RunMessage>;

/** Where a runner's attempts live, the same for its whole life (from its settings): names its scratch dirs. */
export interface RunnerPlace {
  actorId: string;
  workRoot: string;
}

/** An attempt's run id: the attempt's own id (as its BullMQ job id), also the name of its scratch dir. */
export const runIdOf = (ref: Pick<AttemptRef, 'jobId' | 'nodeId' | 'attempt'>): string =>
  attemptJobId(ref.jobId, ref.nodeId, ref.attempt);

/** A run as both sides know it: the message that crosses, and what each side derives from it (`runOrder`). */
export class RunOrder {
  /** The attempt's own id (its BullMQ job id): names the run in every message about it. */
  readonly runId: string;
  private dir?: string;

  constructor(
    readonly message: RunMessage,
    private readonly place: RunnerPlace,
  ) {
    this.runId = runIdOf(message.attempt);
  }

  /**
   * The attempt's scratch dir: made on first use (by the task through ctx.workDir, or by artifact code of either
   * side), removed by the parent after the attempt when it may exist. Worked out when first asked for: most
   * attempts never need it in the runner, where `path.join` is ≈ 7 µs run cold (interpreted).
   */
  get workDir(): string {
    return (this.dir ??= join(
      this.place.workRoot,
      this.place.actorId.replace(/[^A-Za-z0-9._-]/g, '_'),
      this.runId,
    ));
  }
}

/** The run of `message` on a runner at `place`; the actor and the runner both derive it with this. */
export const runOrder = (message: RunMessage, place: RunnerPlace): RunOrder => new RunOrder(message, place);

/** Runs queued at once (a lease's attempts): one write and one wake-up of the runner for all of them. */
export const RunsMessage = z.object({
  type: z.literal('runs'),
  runs: z.array(RunMessage).min(1).max(LEASE_MAX_ATTEMPTS),
  /**
   * Wall-clock ms (the actor's host is the runner's) after which the runner starts none of these: the end of the
   * window in which the actor knows the lease is its own (it read the lease's lock). An actor paused past its
   * lock (GC, SIGSTOP) may have lost the lease meanwhile, and the runner must not start its attempts for it: what
   * is still queued then comes back `withdrawn` (requestId START_BY_REQUEST_ID), unstarted.
   */
  startBy: z.number().int().nonnegative().optional(),
});
export type RunsMessage = z.infer<typeof RunsMessage>;

/** Drop these runs if they are still queued; the runner answers `withdrawn` with those it dropped. */
export const WithdrawMessage = z.object({
  type: z.literal('withdraw'),
  requestId: z.string().min(1).max(64),
  runIds: z.array(z.string().min(1)).max(LEASE_MAX_ATTEMPTS),
});
export type WithdrawMessage = z.infer<typeof WithdrawMessage>;

export const CancelMessage = z.object({
  type: z.literal('cancel'),
  runId: z.string().min(1),
  /** Why, as the attempt's error code if the task gives up because of it (CANCELLED, TIMEOUT...). */
  code: JobErrorCode,
  reason: z.string(),
});
export type CancelMessage = z.infer<typeof CancelMessage>;

/**
 * The runner holds no storage credentials: task code reaches artifacts through its actor, which acts
 * for exactly the running attempt (its tenant, its job, node and attempt) and only on files inside the
 * attempt's scratch directory. stat: recorded metadata; fetch: the actor downloads the artifact to a new
 * file in the scratch dir and answers its path; stage: the actor stores a file of the scratch dir as an
 * output of the attempt and answers its id.
 */
export const StorageRequest = z.object({
  type: z.literal('storage'),
  runId: z.string().min(1),
  requestId: z.string().min(1).max(64),
  op: z.enum(['stat', 'fetch', 'stage']),
  artifactId: z.string().min(1).max(256).optional(),
  path: z.string().min(1).max(4096).optional(),
  name: z.string().min(1).max(1024).optional(),
  contentType: z.string().min(1).max(255).optional(),
});
export type StorageRequest = z.infer<typeof StorageRequest>;

export const StorageResult = z.object({
  type: z.literal('storage-result'),
  requestId: z.string().min(1),
  error: JobError.optional(),
  stat: z.object({ name: z.string(), contentType: z.string(), size: z.number().nonnegative() }).optional(),
  path: z.string().optional(),
  artifactId: z.string().optional(),
});
export type StorageResult = z.infer<typeof StorageResult>;

export const ParentMessage = z.discriminatedUnion('type', [
  RunMessage,
  RunsMessage,
  WithdrawMessage,
  CancelMessage,
  StorageResult,
]);
export type ParentMessage = z.infer<typeof ParentMessage>;

export const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof LogLevel>;

/**
 * The run left off-heap memory in the runner (tfjs tensors, which RUNNER_MAX_OLD_SPACE_MB does not cap): the
 * runner starts nothing more (its queued runs come back `withdrawn`, requestId RECYCLE_REQUEST_ID) and the actor
 * replaces it once the run is reported, so nothing one tenant's attempt left accumulates for the next. Why.
 */
const Recycle = z.string().min(1).max(2000);
export const RECYCLE_REQUEST_ID = 'recycle';
/** The requestId of the runs a runner gives back because their `startBy` passed (RunsMessage). */
export const START_BY_REQUEST_ID = 'start-by';

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
    outputs: JsonObjectFromJson, // over a JSON channel: JSON by construction; an object is checked
    artifactIds: z.array(z.string()),
    /** The run made its scratch dir (it is made on first use): the actor removes it. */
    workDirUsed: z.boolean().optional(),
    recycle: Recycle.optional(),
  }),
  z.object({
    type: z.literal('error'),
    runId: z.string(),
    error: JobError,
    workDirUsed: z.boolean().optional(),
    recycle: Recycle.optional(),
    /** A cancel dropped the run from the runner's queue: its task never started. */
    unstarted: z.literal(true).optional(),
  }),
  z.object({ type: z.literal('withdrawn'), requestId: z.string(), runIds: z.array(z.string()) }),
  StorageRequest,
]);
export type ChildMessage = z.infer<typeof ChildMessage>;

/** What crosses the channel from the runner: one message, or those of one turn together. */
export const ChildEnvelope = z.union([
  ChildMessage,
  z.object({ type: z.literal('batch'), messages: z.array(ChildMessage).min(1) }),
]);
export type ChildEnvelope = z.infer<typeof ChildEnvelope>;

/** A batch as the actor receives it: its messages are parsed one by one (`childMessages`). */
const ReceivedBatch = z.object({ type: z.literal('batch'), messages: z.array(z.unknown()).min(1) });

/**
 * The messages of an envelope from the runner, in the order they were sent, each parsed on its own: a
 * malformed one is an Error in its place, and the others of its turn (another attempt's result) still count.
 */
export function childMessages(raw: unknown): Array<ChildMessage | Error> {
  const batch = ReceivedBatch.safeParse(raw);
  return (batch.success ? batch.data.messages : [raw]).map((m) => {
    try {
      return parseContract(ChildMessage, 'ChildMessage', m);
    } catch (e) {
      return e as Error;
    }
  });
}

/** Who a runner's command tasks run as (when it runs as root): the worker's COMMAND_TASK_* settings. */
export const CommandTaskUserSettings = z.object({
  /** COMMAND_TASK_USER: a user name or numeric uid, never root. */
  user: z.string().min(1),
  /** COMMAND_TASK_UID_BASE: actor n's commands run as base + n; 0: all as `user`. */
  uidBase: z.number().int().min(0),
  /** The actor's slot (n above). */
  slot: z.number().int().min(0),
});
export type CommandTaskUserSettings = z.infer<typeof CommandTaskUserSettings>;

/**
 * Everything a runner is configured with, decided by the worker (validated there, once) and passed as the
 * runner's one argument (JSON; nothing secret in it), so it is there before any module loads — a first
 * IPC message could arrive before the runner listens. The runner parses no environment of its own.
 */
export const RunnerSettings = z.object({
  actorId: z.string().min(1),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  heartbeatIntervalMs: z.number().int().positive(),
  testTasks: z.boolean(),
  commandTasksFile: z.string().min(1).optional(),
  commandTaskUser: CommandTaskUserSettings,
  /** The actor's device, what every attempt's ctx.device is: constant for the runner's life. */
  device: Device,
  /** Under it, in the actor's own dir, each attempt's scratch dir (runOrder). */
  workRoot: z.string().min(1),
});
export type RunnerSettings = z.infer<typeof RunnerSettings>;
