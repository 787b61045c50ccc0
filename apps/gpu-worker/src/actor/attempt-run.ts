import { chmod, mkdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeAttemptPayload } from '#libs/contracts';
import { activeContext } from '#libs/observability';
import type { ArtifactRepository } from '#libs/storage';
import type { RunMessage } from '../runner/ipc-protocol.js';
import type { RunnerProcess } from '../runner/runner-process.js';
import type { ActorSpec } from '../supervisor/actor-plan.js';
import { AttemptExecution, type AttemptLimits, type AttemptOutcome } from './attempt-execution.js';
import type { AttemptReporter } from './attempt-reporter.js';
import { inRunnerSpan, inStorageSpan } from './attempt-trace.js';
import { AttemptStorage } from './attempt-storage.js';
import { payloadRef } from './node-payload.js';

/** mkdir's mode is masked by the umask: a usual one (022) leaves 0711 whole, so no chmod is needed. */
const UMASK_KEEPS_0711 = (process.umask() & 0o711) === 0;

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
 * Runs one attempt on the actor's runner: a fresh scratch directory (traverse-only for other users, so a
 * task running as another uid cannot list other attempts'), storage done for the runner on behalf of this
 * attempt only, the supervised execution, and the scratch dir removed whatever happened.
 */
export async function runAttempt(
  runner: RunnerProcess,
  payload: NodeAttemptPayload,
  reporter: AttemptReporter,
  o: AttemptRunOptions,
): Promise<AttemptOutcome> {
  const runId = `${payload.jobId}.${payload.nodeId}.${payload.attempt}`;
  const actorDir = join(o.workRoot, o.spec.id.replace(/[^A-Za-z0-9._-]/g, '_'));
  const workDir = join(actorDir, runId);
  await makeScratchDir(o.workRoot, actorDir, workDir);
  const storage = new AttemptStorage(o.artifacts, payloadRef(payload), workDir);
  const attemptContext = activeContext(); // the attempt's span (inAttemptSpan), for the IPC handlers
  const msg: RunMessage = {
    type: 'run',
    runId,
    attempt: payloadRef(payload),
    task: payload.task,
    taskVersion: payload.taskVersion,
    inputs: payload.inputs,
    device: o.spec.device,
    workDir,
  };
  const execution = new AttemptExecution(
    runner,
    msg,
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
    await removeScratchDir(workDir);
  }
}

/**
 * The attempt's scratch dir, 0711 like its parents. The parents exist after the actor's first attempt:
 * then only the dir itself is made (a missing parent, e.g. removed by hand, takes the full path again).
 */
async function makeScratchDir(workRoot: string, actorDir: string, workDir: string): Promise<void> {
  try {
    await mkdir(workDir, { mode: 0o711 });
    if (!UMASK_KEEPS_0711) await chmod(workDir, 0o711).catch(() => undefined);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return void (await chmod(workDir, 0o711).catch(() => undefined)); // left by a crash
    if (code !== 'ENOENT') throw e;
  }
  await mkdir(workDir, { recursive: true });
  for (const d of [workRoot, actorDir, workDir]) await chmod(d, 0o711).catch(() => undefined);
}

/** Most attempts leave their scratch dir empty: one rmdir then; the recursive removal otherwise. */
async function removeScratchDir(workDir: string): Promise<void> {
  try {
    await rmdir(workDir);
  } catch {
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
