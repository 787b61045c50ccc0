/**
 * `node --cpu-prof` for processes started by someone else: Node refuses --cpu-prof in NODE_OPTIONS, but
 * accepts `--import` of this file, which starts the V8 sampling profiler at once and writes
 * `<E2E_CPU_PROF_DIR>/CPU.<pid>.0.1.cpuprofile` when the process exits (process.exit, end of work, or a
 * SIGTERM the app handles by exiting). Benchmark use only; does nothing without E2E_CPU_PROF_DIR.
 *
 * The gpu-worker forks its task runners with an allow-listed environment and NODE_OPTIONS emptied (task code
 * must not inherit the worker's options), so NODE_OPTIONS does not reach them: in a profiled process this file
 * also wraps child_process.fork to pass itself (`--import`) and E2E_CPU_PROF_DIR to every forked child. A runner
 * is stopped with SIGTERM and has no handler of its own, so a forked child writes its profile on SIGTERM too.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import type * as ChildProcessModule from 'node:child_process';

const FORKED_MARK = 'E2E_CPU_PROF_FORKED';
const dir = process.env.E2E_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  // a same-thread session answers synchronously, so the profile can still be taken in an 'exit' listener
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      writeFileSync(join(dir, `CPU.${process.pid}.0.1.cpuprofile`), JSON.stringify(result.profile));
    });
  };
  process.once('exit', write);
  if (process.env[FORKED_MARK]) {
    process.once('SIGTERM', () => {
      write();
      process.exit(143);
    });
  }
  profileForkedChildren(dir);
}

function profileForkedChildren(profileDir: string): void {
  const cp = createRequire(import.meta.url)('node:child_process') as typeof ChildProcessModule;
  const fork = cp.fork;
  const self = import.meta.url;
  const wrapped = (modulePath: string, ...rest: unknown[]) => {
    const args = Array.isArray(rest[0]) ? (rest.shift() as string[]) : [];
    const options = { ...((rest[0] as ChildProcessModule.ForkOptions | undefined) ?? {}) };
    options.execArgv = [...(options.execArgv ?? process.execArgv), `--import=${self}`];
    options.env = { ...(options.env ?? process.env), E2E_CPU_PROF_DIR: profileDir, [FORKED_MARK]: '1' };
    return fork(modulePath, args, options);
  };
  cp.fork = wrapped as typeof cp.fork;
  syncBuiltinESMExports(); // `import { fork } from 'node:child_process'` sees the wrapper too
}
