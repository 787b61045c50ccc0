/**
 * `--cpu-prof` for processes started by someone else: Node 20 refuses --cpu-prof in NODE_OPTIONS, but takes
 * `--import <this file>`. Profiles the process (when its entry script path contains one of
 * BENCH_CPU_PROF_APPS, comma-separated; default all) with the in-process inspector and writes
 * <BENCH_CPU_PROF_DIR>/<app>-<pid>.cpuprofile when it exits (the in-thread inspector session answers
 * synchronously, so the 'exit' hook can still write). Sampling starts on SIGUSR2 (after the warm-up, so
 * start-up does not drown the requests), or at once with BENCH_CPU_PROF_NOW=1.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { basename, dirname, join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
const entry = process.argv[1] ?? '';
const apps = (process.env.BENCH_CPU_PROF_APPS ?? '').split(',').filter(Boolean);
const wanted = apps.length === 0 || apps.some((a) => entry.includes(a));
if (dir && wanted) {
  const name = `${basename(dirname(dirname(entry)))}-${basename(entry, '.js')}-${process.pid}`;
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  let started = false;
  const start = () => {
    if (!started) session.post('Profiler.start');
    started = true;
  };
  if (process.env.BENCH_CPU_PROF_NOW === '1') start();
  else process.on('SIGUSR2', start);
  process.once('exit', () => {
    if (!started) return;
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
