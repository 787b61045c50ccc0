/**
 * Entry of a task runner process, forked by an actor with CUDA_VISIBLE_DEVICES already set, so no task
 * code ever sees another actor's GPU. It loads the tasks, says `ready` with their manifests, then runs
 * one attempt at a time on the actor's command. Its environment is an allow-list without any platform
 * secret: artifacts are reached through the actor (proxied-artifacts.ts), never with credentials here.
 */
import { jobErrorMessage, parseContract } from '#libs/contracts';
// The logger alone: the library's index also loads Nest, terminus and prom-client, ~0.8 s of CPU per runner boot.
import { createLogger } from '#libs/observability/logger';
import { errorMessage, TaskCatalog } from '#libs/task-sdk';
import { loadTasks, retainedMemory } from '../tasks/index.js';
import { RunnerSettings, type ChildMessage } from './ipc-protocol.js';
import { proxiedArtifacts, StorageClient } from './proxied-artifacts.js';
import { startOrphanWatchdog } from './orphan-watchdog.js';
import { TaskRunnerChild } from './task-runner-child.js';
import { TurnBatchedSender } from './turn-batched-sender.js';

// Typed here and parsed by the actor, the boundary that counts (this process runs task code): not parsed a
// second time on the way out.
const channel = new TurnBatchedSender((envelope) => {
  if (process.connected) process.send!(envelope);
});
const send = (msg: ChildMessage): void => channel.send(msg);

/** This runner's settings, from the worker (its one argument); none are read from the environment. */
function settingsFromArgv(): RunnerSettings {
  let raw: unknown;
  try {
    raw = JSON.parse(process.argv[2] ?? '');
  } catch {
    throw new Error('runner-main expects its settings as one JSON argument (forked by the worker)');
  }
  return parseContract(RunnerSettings, 'RunnerSettings', raw);
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('runner-main must be forked with an IPC channel');
  startOrphanWatchdog();
  const config = settingsFromArgv();
  const log = createLogger('gpu-worker-runner', config.logLevel).child({ actor: config.actorId });

  let catalog: TaskCatalog;
  try {
    catalog = new TaskCatalog(
      loadTasks({
        testTasks: config.testTasks,
        ...(config.commandTasksFile ? { commandTasksFile: config.commandTasksFile } : {}),
        commandTaskUser: config.commandTaskUser,
      }),
    );
  } catch (e) {
    send({ type: 'boot-failed', message: errorMessage(e) });
    channel.flush();
    process.exitCode = 1;
    process.disconnect();
    return;
  }

  const storage = new StorageClient(send);
  const runner = new TaskRunnerChild(
    { actorId: config.actorId, workRoot: config.workRoot, device: config.device },
    catalog,
    (run, scratch) => proxiedArtifacts(storage, run.runId, scratch),
    send,
    log,
    (r) => storage.answer(r),
    retainedMemory,
  );

  const heartbeat = setInterval(
    () => send({ type: 'heartbeat', at: Date.now() }),
    config.heartbeatIntervalMs,
  );
  process.on('message', (m) => runner.handle(m));
  process.on('uncaughtException', (err) => {
    log.error({ err: errorMessage(err) }, 'runner: uncaught exception; exiting');
    runner.failCurrent({
      code: 'TASK_FAILED',
      message: jobErrorMessage(`uncaught exception in task: ${errorMessage(err)}`),
      retryable: true,
    });
    channel.flush();
    // Give the IPC channel a moment to flush the error before the process goes.
    setTimeout(() => process.exit(1), 200);
  });
  // A task that ends the process (process.exit) still gets out what it said before.
  process.once('exit', () => channel.flush());
  // The actor went away (closed channel): nothing to report to any more.
  process.once('disconnect', () => {
    clearInterval(heartbeat);
    process.exit(0);
  });
  send({ type: 'ready', pid: process.pid, tasks: catalog.manifests() });
  log.info(
    { tasks: catalog.list().length, cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES },
    'runner ready',
  );
}

main().catch((e: unknown) => {
  try {
    send({ type: 'boot-failed', message: errorMessage(e) });
    channel.flush();
  } finally {
    process.exit(1);
  }
});
