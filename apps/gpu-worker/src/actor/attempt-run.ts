import { rm, rmdir } from 'node:fs/promises';
import type { NodeAttemptPayload } from '#libs/contracts';
import { activeContext } from '#libs/observability';
import type { ArtifactRepository } from '#libs/storage';
import { runOrder, type RunOrder } from '../runner/ipc-protocol.js';
import type { RunnerProcess } from '../runner/runner-process.js';
import { ScratchDir } from '../runner/scratch-dir.js';
import type { ActorSpec } from '../supervisor/actor-plan.js';
import { AttemptExecution, type AttemptLimits, type AttemptOutcome } from './attempt-execution.js';
import type { AttemptReporter } from './attempt-reporter.js';
import { inRunnerSpan, inStorageSpan } from './attempt-trace.js';
import { AttemptStorage } from './attempt-storage.js';
import { payloadRef } from './node-payload.js';

export interface AttemptRunOptions {
  spec: ActorSpec;
  workRoot: string;
  artifacts: ArtifactRepository;
  limits: Omit<AttemptLimits, 'timeoutMs'>;
  logger: { debug(obj: object, msg: string): void };
  /** The execution exists (the actor routes cancel, release and lock loss to it). */
  onExecution: (execution: AttemptExecution) => void;
}

/**
 * Runs one attempt on the actor's runner: a fresh scratch directory (made on first use, by the runner or by
 * the storage done here; traverse-only for other users, so a task running as another uid cannot list other
 * attempts'), storage done for the runner on behalf of this attempt only, the supervised execution, and the
 * scratch dir removed whatever happened, unless the runner said it never made it.
 */
export async function runAttempt(
  runner: RunnerProcess,
  payload: NodeAttemptPayload,
  reporter: AttemptReporter,
  o: AttemptRunOptions,
): Promise<AttemptOutcome> {
  const order = runOrderFor(payload, o.spec, o.workRoot);
  const { runId, workDir } = order;
  const scratch = new ScratchDir(workDir);
  // the execution stops the attempt at its timeout from now: until then its staged outputs are no orphans
  const deadline = new Date(Date.now() + payload.timeoutMs);
  const storage = new AttemptStorage(o.artifacts, payloadRef(payload), scratch, deadline);
  const attemptContext = activeContext(); // the attempt's span (inAttemptSpan), for the IPC handlers
  const execution = new AttemptExecution(
    runner,
    order,
    {
      progress: (fraction, message) => reporter.progress(fraction, message),
      log: (level, message) => reporter.log(level, message),
      artifact: (artifactId, name) =>
        o.logger.debug({ actor: o.spec.id, runId, artifactId, name }, 'artifact staged'),
      storage: (req) => inStorageSpan(attemptContext, req, () => storage.handle(req)),
    },
    { ...o.limits, timeoutMs: payload.timeoutMs },
  );
  o.onExecution(execution);
  try {
    // Without the scheduler's traceparent there is no attempt span to hang the runner's under.
    return await (payload.traceparent ? inRunnerSpan(runId, () => execution.run()) : execution.run());
  } finally {
    if (scratch.made || execution.scratchMayExist) await removeScratchDir(workDir);
  }
}

/**
 * The runner's order for one attempt: its run id and scratch dir follow from the attempt and the actor, as the
 * runner derives them (runOrder); the device is the runner's own (its settings).
 */
export function runOrderFor(payload: NodeAttemptPayload, spec: ActorSpec, workRoot: string): RunOrder {
  return runOrder(
    {
      type: 'run',
      attempt: payloadRef(payload),
      task: payload.task,
      taskVersion: payload.taskVersion,
      inputs: payload.inputs,
    },
    { actorId: spec.id, workRoot },
  );
}

/** A used scratch dir is often empty: one rmdir then; the recursive removal otherwise (or when missing). */
async function removeScratchDir(workDir: string): Promise<void> {
  try {
    await rmdir(workDir);
  } catch {
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
