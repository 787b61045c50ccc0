/**
 * `node --cpu-prof` for processes started by someone else: Node refuses --cpu-prof in NODE_OPTIONS, but
 * accepts `--import` of this file, which starts the V8 sampling profiler at once and writes
 * `<E2E_CPU_PROF_DIR>/CPU.<pid>.0.1.cpuprofile` when the process exits (process.exit, end of work, or a
 * SIGTERM the app handles by exiting). Benchmark use only; does nothing without E2E_CPU_PROF_DIR.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.E2E_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  // a same-thread session answers synchronously, so the profile can still be taken in an 'exit' listener
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      writeFileSync(join(dir, `CPU.${process.pid}.0.1.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
