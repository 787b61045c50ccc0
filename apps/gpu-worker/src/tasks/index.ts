import type { TaskDefinition } from '#libs/task-sdk';
import { testTasks } from './test-tasks.js';

export interface LoadTasksConfig {
  /** SWITCHYARD_TEST_TASKS=1: also offer the test.* tasks (misbehaving on purpose). */
  testTasks: boolean;
  /** WORKER_COMMAND_TASKS_FILE: operator-declared command tasks. */
  commandTasksFile?: string;
}

/** Every task this worker offers. Duplicates are refused later by TaskCatalog. */
export function loadTasks(config: LoadTasksConfig): TaskDefinition[] {
  const tasks: TaskDefinition[] = [];
  if (config.testTasks) tasks.push(...testTasks);
  return tasks;
}
