// The jest environment of every spec (jest.config.js): Node's, plus a reaper. Each process a spec starts through
// #libs/testing (src/processes.ts: servers and our apps) is recorded on the spec file's global; once the file is
// done — after its afterAll hooks, also when a test failed half way — whatever still runs is killed and named on
// stderr, so nothing a test started outlives its file (before, a worker started inside a failing test ran on
// until jest itself exited, under every later file). Then the temp dirs the file made with tempDir() are removed
// (servers' and apps' data dirs, work roots: before, every full run left about 35 of them in /tmp).
// Last, the command-task uids the file reserved (src/command-task-uids.ts) are given back.
import { readFileSync, rmSync } from 'node:fs';
import { TestEnvironment } from 'jest-environment-node';

/** Where src/processes.ts records the live processes of the spec file (its global is this environment's). */
export const LIVE_PROCESSES = '__switchyardTestProcesses';
/** Where src/processes.ts records the temp dirs tempDir() made for the spec file. */
export const TEMP_DIRS = '__switchyardTestDirs';
/** Where src/command-task-uids.ts records the lock files of the command-task uids the file reserved. */
export const UID_LOCKS = '__switchyardUidLocks';
/** How long a SIGKILLed process may take to be reaped before teardown goes on without it. */
const EXIT_WAIT_MS = 5_000;

const running = (p) => p.exitCode === null && p.signalCode === null;

export default class ProcessReapingEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testPath = context?.testPath;
  }

  async teardown() {
    const live = this.global[LIVE_PROCESSES];
    const left = live ? [...live].filter(running) : [];
    if (left.length > 0) {
      process.stderr.write(
        `[switchyard test reaper] ${this.testPath ?? 'a spec'} left ${left.length} process(es) running; killing: ` +
          `${left.map((p) => `${p.pid} (${p.spawnargs.slice(0, 3).join(' ')})`).join(', ')}\n`,
      );
      await Promise.all(left.map(kill));
    }
    // after the kills: nothing writes into them any more
    for (const dir of this.global[TEMP_DIRS] ?? []) rmSync(dir, { recursive: true, force: true });
    // and no process of the file runs commands as its uids any more: another run may have them
    for (const lock of this.global[UID_LOCKS] ?? []) if (holds(lock)) rmSync(lock, { force: true });
    await super.teardown();
  }
}

function holds(lock) {
  try {
    return readFileSync(lock, 'utf8') === String(process.pid);
  } catch {
    return false;
  }
}

function kill(p) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, EXIT_WAIT_MS);
    p.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    p.kill('SIGKILL');
    if (!running(p)) resolve();
  });
}
