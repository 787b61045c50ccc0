import type { TaskDefinition } from '#libs/task-sdk';
import type { CommandTaskUserSettings } from '../runner/ipc-protocol.js';
import { commandTask, readCommandTasksFile } from './command/index.js';
import { gpuProbe } from './gpu-probe.task.js';
import { imageResize } from './image-resize.task.js';
import { modelEvaluate } from './model-evaluate.task.js';
import { modelTrain } from './model-train.task.js';
import { testTasks } from './test-tasks.js';

export interface LoadTasksConfig {
  /** SWITCHYARD_TEST_TASKS=1: also offer the test.* tasks (misbehaving on purpose). */
  testTasks: boolean;
  /** WORKER_COMMAND_TASKS_FILE: operator-declared command tasks (read and validated now). */
  commandTasksFile?: string;
  /** Who command tasks run as when the runner runs as root (default: nobody, uids from 61000). */
  commandTaskUser?: CommandTaskUserSettings;
}

export const builtInTasks: TaskDefinition[] = [imageResize, modelTrain, modelEvaluate, gpuProbe];

/**
 * Every task this worker offers. Throws (CommandTasksFileError, TaskDefinitionError) on a bad
 * declaration; duplicates are refused when the list is put into a TaskCatalog.
 */
export function loadTasks(config: LoadTasksConfig): TaskDefinition[] {
  const tasks: TaskDefinition[] = [...builtInTasks];
  if (config.testTasks) tasks.push(...testTasks);
  if (config.commandTasksFile) {
    for (const decl of readCommandTasksFile(config.commandTasksFile))
      tasks.push(commandTask(decl, config.commandTaskUser ? { user: config.commandTaskUser } : {}));
  }
  return tasks;
}

export { killRunningCommands } from './command/index.js';
/** What built-in tasks keep off the V8 heap between attempts (tfjs tensors): the runner's RetainedMemoryProbe. */
export { tensorMemory as retainedMemory } from './classifier/tensorflow.js';
