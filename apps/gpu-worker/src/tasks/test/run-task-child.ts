/*
 * Test harness entry: runs one task in this (child) process with a local context and prints, one JSON
 * object a line: {"beat":n} every 50 ms while the event loop is free, then {"result":...} or
 * {"error":...}. Tests bundle it (esbuild) and watch the child from outside, for the tasks that block or
 * end their process. Usage: node run-task-child.js <task> <version> '<input json>' <rootDir>
 * (WORKER_COMMAND_TASKS_FILE in the environment adds command tasks, as in the runner; as root they run as
 * uid COMMAND_TASK_UID_BASE, which the spec sets from testCommandTaskEnv()).
 */
import { createLocalTaskContext, runTask, TaskCatalog, TaskError } from '#libs/task-sdk';
import { loadTasks } from '../index.js';

const [name, version, inputJson, rootDir] = process.argv.slice(2);
const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
let beat = 0;
setInterval(() => print({ beat: ++beat }), 50);

const commandTasksFile = process.env.WORKER_COMMAND_TASKS_FILE;
// the spec's uids (libs/testing testCommandTaskEnv), never the production 61000 another run may be using
const uidBase = process.env.COMMAND_TASK_UID_BASE;
if (commandTasksFile && process.getuid?.() === 0 && !uidBase) {
  print({ error: "COMMAND_TASK_UID_BASE is not set: command tasks as root need the test run's uids" });
  process.exit(2);
}
const catalog = new TaskCatalog(
  loadTasks({
    testTasks: true,
    ...(commandTasksFile ? { commandTasksFile } : {}),
    ...(uidBase ? { commandTaskUser: { user: 'nobody', uidBase: Number(uidBase), slot: 0 } } : {}),
  }),
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
