/*
 * Test harness entry: runs one task in this (child) process with a local context and prints, one JSON
 * object a line: {"beat":n} every 50 ms while the event loop is free, then {"result":...} or
 * {"error":...}. Tests bundle it (esbuild) and watch the child from outside, for the tasks that block or
 * end their process. Usage: node run-task-child.js <task> <version> '<input json>' <rootDir>
 * (WORKER_COMMAND_TASKS_FILE in the environment adds command tasks, as in the runner).
 */
import { createLocalTaskContext, runTask, TaskCatalog, TaskError } from '#libs/task-sdk';
import { loadTasks } from '../index.js';

const [name, version, inputJson, rootDir] = process.argv.slice(2);
const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
let beat = 0;
setInterval(() => print({ beat: ++beat }), 50);

const commandTasksFile = process.env.WORKER_COMMAND_TASKS_FILE;
const catalog = new TaskCatalog(
  loadTasks({ testTasks: true, ...(commandTasksFile ? { commandTasksFile } : {}) }),
);
const def = catalog.get(name!, version!);
if (!def) {
  print({ error: { code: 'UNKNOWN_TASK' } });
  process.exit(2);
}
const ctx = await createLocalTaskContext({ rootDir: rootDir! });
print({ started: name });
try {
  print({ result: await runTask(def, JSON.parse(inputJson!), ctx) });
  process.exit(0);
} catch (e) {
  print({ error: e instanceof TaskError ? e.toJobError() : String(e) });
  process.exit(1);
}
