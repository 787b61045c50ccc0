import {
  JobError,
  jobErrorMessage,
  JsonObject,
  parseContract,
  plainJsonObject,
  type Device,
} from '#libs/contracts';
import {
  errorMessage,
  isTaskError,
  runTask,
  TaskError,
  type TaskArtifacts,
  type TaskCatalog,
  type TaskContext,
} from '#libs/task-sdk';
import {
  ParentMessage,
  RECYCLE_REQUEST_ID,
  START_BY_REQUEST_ID,
  runOrder,
  type ChildMessage,
  type RunMessage,
  type RunnerPlace,
  type RunOrder,
  type StorageResult,
} from './ipc-protocol.js';
import { retainedGrowth, type RetainedMemoryProbe } from './retained-memory.js';
import { ScratchDir } from './scratch-dir.js';

/**
 * Makes the artifacts API of one run (through the actor: the runner holds no storage credentials); its
 * temporary files go in the run's scratch dir, made on first use.
 */
export type AttemptArtifactsFactory = (run: RunOrder, scratch: ScratchDir) => TaskArtifacts;

/** What all of a runner's attempts share, from its settings: where their scratch dirs go, their device. */
export interface RunnerSite extends RunnerPlace {
  device: Device;
}

export interface ChildLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const truncate = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/**
 * The task runner's core inside the child process: runs one attempt at a time through the SDK's
 * runTask (which validates input and output) and turns everything into protocol messages. Runs handed over
 * together (`runs`) wait in a queue and start one after the other, each as soon as the one before it ended.
 * The transport (process.send) is injected so the process wiring stays in runner-main.ts.
 */
export class TaskRunnerChild {
  private current?: { runId: string; controller: AbortController };
  private readonly queued: RunOrder[] = [];
  /** Why this runner asked to be replaced; it starts nothing more once set. */
  private recycling?: string;
  /** The queued runs' `startBy` (RunsMessage): none of them starts after it. */
  private startBy?: number;

  constructor(
    private readonly site: RunnerSite,
    private readonly catalog: TaskCatalog,
    private readonly artifactsFor: AttemptArtifactsFactory,
    private readonly send: (msg: ChildMessage) => void,
    private readonly log: ChildLogger,
    /** Answers to the storage requests of the running attempt. */
    private readonly onStorageResult: (r: StorageResult) => void = () => undefined,
    /** Off-heap memory task code keeps (tfjs tensors): read before and after each run. */
    private readonly retained: RetainedMemoryProbe = () => undefined,
  ) {}

  get busyWith(): string | undefined {
    return this.current?.runId;
  }

  /** Entry point for every IPC message from the parent. */
  handle(raw: unknown): void {
    let msg: ParentMessage;
    try {
      msg = parseContract(ParentMessage, 'ParentMessage', raw);
    } catch (e) {
      this.log.error({ err: errorMessage(e) }, 'runner: refused a malformed message from the actor');
      return;
    }
    if (msg.type === 'storage-result') {
      this.onStorageResult(msg);
      return;
    }
    if (msg.type === 'cancel') {
      const error = new TaskError(msg.code, msg.reason, { retryable: msg.code !== 'CANCELLED' });
      const waiting = this.dequeue([msg.runId]);
      if (waiting.length > 0) {
        // never started: it ends with the error it would have given up with
        this.send({
          type: 'error',
          runId: msg.runId,
          error: error.toJobError(),
          workDirUsed: false,
          unstarted: true,
        });
        return;
      }
      if (this.current?.runId !== msg.runId) return; // already finished: nothing to stop
      this.log.warn({ runId: msg.runId, code: msg.code, reason: msg.reason }, 'runner: aborting the attempt');
      this.current.controller.abort(error);
      return;
    }
    if (msg.type === 'withdraw') {
      this.send({ type: 'withdrawn', requestId: msg.requestId, runIds: this.dequeue(msg.runIds) });
      return;
    }
    if (msg.type === 'runs') {
      for (const run of msg.runs) this.queued.push(runOrder(run, this.site));
      this.startBy = msg.startBy;
      if (this.recycling) this.giveBackQueued();
      else if (!this.current) this.startNext();
      return;
    }
    void this.run(runOrder(msg, this.site));
  }

  /**
   * Report the current run as failed (used on an uncaught exception, just before the process exits); the
   * queued runs are not started in a dying process: the actor takes them back when it sees the exit.
   */
  failCurrent(error: JobError): void {
    this.queued.length = 0;
    if (this.current) this.send({ type: 'error', runId: this.current.runId, error });
  }

  /** Removes these runs from the queue (those not started yet); returns the ids removed. */
  private dequeue(runIds: readonly string[]): string[] {
    const removed: string[] = [];
    for (const id of runIds) {
      const i = this.queued.findIndex((q) => q.runId === id);
      if (i < 0) continue;
      this.queued.splice(i, 1);
      removed.push(id);
    }
    return removed;
  }

  private startNext(): void {
    if (this.recycling) return this.giveBackQueued();
    // past the window in which the actor knew the lease was its own (it may be paused, the lease re-leased)
    if (this.startBy !== undefined && Date.now() > this.startBy)
      return this.giveBackQueued(START_BY_REQUEST_ID);
    const next = this.queued.shift();
    if (next) void this.run(next);
  }

  /**
   * A runner being replaced (or whose queued runs' `startBy` passed) starts no queued run: they go back to the
   * actor, unstarted (for the next runner, or to be handed back with their lease).
   */
  private giveBackQueued(requestId = RECYCLE_REQUEST_ID): void {
    const runIds = this.queued.splice(0).map((r) => r.runId);
    if (runIds.length > 0) this.send({ type: 'withdrawn', requestId, runIds });
  }

  private async run(order: RunOrder): Promise<void> {
    const { runId, message: msg } = order;
    if (this.current) {
      this.send({
        type: 'error',
        runId,
        error: { code: 'CRASHED', message: `runner is busy with ${this.current.runId}`, retryable: true },
      });
      return;
    }
    const def = this.catalog.get(msg.task, msg.taskVersion);
    if (!def) {
      this.send({
        type: 'error',
        runId,
        error: {
          code: 'UNSCHEDULABLE',
          message: `this worker does not offer ${msg.task}@${msg.taskVersion}`,
          retryable: true, // another worker may offer it
        },
      });
      this.startNext();
      return;
    }
    if (this.recycling) {
      // the actor replaces this runner before it hands it another attempt; one that comes anyway is not run here
      this.send({
        type: 'error',
        runId,
        error: { code: 'CRASHED', message: `runner is being replaced: ${this.recycling}`, retryable: true },
        workDirUsed: false,
      });
      return;
    }
    const retainedBefore = this.retained();
    const controller = new AbortController();
    this.current = { runId, controller };
    const artifactIds: string[] = [];
    // Made when the task (or its artifact calls) first needs it; the actor removes it only then.
    let scratch: ScratchDir | undefined;
    const scratchDir = () => (scratch ??= new ScratchDir(order.workDir));
    // made on the task's first artifact call: most attempts make none, and this runs mostly interpreted
    let made: TaskArtifacts | undefined;
    const store = () => (made ??= this.artifactsFor(order, scratchDir()));
    const logLine = (level: 'debug' | 'info' | 'warn' | 'error') => (m: string) =>
      this.send({ type: 'log', runId, level, message: truncate(String(m), 8000) });
    const ctx: TaskContext = {
      attempt: msg.attempt,
      progress: (fraction, message) =>
        this.send({
          type: 'progress',
          runId,
          fraction: Math.min(1, Math.max(0, fraction)),
          ...(message ? { message: truncate(message, 2000) } : {}),
        }),
      log: { debug: logLine('debug'), info: logLine('info'), warn: logLine('warn'), error: logLine('error') },
      signal: controller.signal,
      device: this.site.device,
      get workDir() {
        return scratchDir().ensure();
      },
      artifacts: {
        put: async (source, meta) => {
          const id = await store().put(source, meta);
          artifactIds.push(id);
          this.send({ type: 'artifact', runId, artifactId: id, name: meta.name });
          return id;
        },
        stat: (id) => store().stat(id),
        read: (id) => store().read(id),
        download: (id, toPath) => store().download(id, toPath),
      },
    };
    try {
      const out = await runTask(def, msg.inputs, ctx);
      let outputs: JsonObject;
      try {
        // the plain walk accepts the usual outputs; the schema has the last word (and the reason) on the rest
        outputs = plainJsonObject(out) ?? parseContract(JsonObject, `${def.name} outputs`, out);
      } catch (e) {
        throw new TaskError('INVALID_OUTPUT', `outputs are not a JSON object: ${errorMessage(e)}`, {
          retryable: false,
        });
      }
      const recycle = this.checkRetained(runId, msg, retainedBefore);
      this.send({
        type: 'result',
        runId,
        outputs,
        artifactIds,
        workDirUsed: scratch?.made ?? false,
        ...(recycle ? { recycle } : {}),
      });
    } catch (e) {
      const recycle = this.checkRetained(runId, msg, retainedBefore);
      this.send({
        type: 'error',
        runId,
        error: jobErrorOf(e),
        workDirUsed: scratch?.made ?? false,
        ...(recycle ? { recycle } : {}),
      });
    } finally {
      this.current = undefined;
      this.startNext();
    }
  }

  /**
   * The run left off-heap memory behind (RUNNER_MAX_OLD_SPACE_MB does not cap it, and the next attempt may be
   * another tenant's): this runner asks to be replaced and starts nothing more. Returns why, or undefined.
   */
  private checkRetained(
    runId: string,
    msg: RunMessage,
    before: ReturnType<RetainedMemoryProbe>,
  ): string | undefined {
    const growth = retainedGrowth(before, this.retained());
    if (!growth) return undefined;
    this.recycling = growth;
    this.log.warn(
      { runId, task: msg.task, reason: growth },
      'runner: the attempt left memory behind; asking the actor to replace this runner',
    );
    return growth;
  }
}

/**
 * What a task threw, as its attempt's JobError. A TaskError with a code that is not one of ours (JS task code is
 * not type-checked) becomes TASK_FAILED naming it, so the actor never receives a malformed error.
 */
function jobErrorOf(e: unknown): JobError {
  if (isTaskError(e)) {
    const error = e.toJobError();
    if (JobError.safeParse(error).success) return error;
    return {
      code: 'TASK_FAILED',
      message: jobErrorMessage(`${String(error.code)}: ${errorMessage(e)}`, 'task failed'),
      retryable: error.retryable === true,
    };
  }
  return { code: 'TASK_FAILED', message: jobErrorMessage(errorMessage(e), 'task failed'), retryable: true };
}
