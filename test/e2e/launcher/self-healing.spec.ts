import { waitFor } from '#libs/testing';
import {
  freeLauncherPorts,
  killStack,
  pidOf,
  processesOf,
  startLauncher,
  type LauncherRun,
} from './launcher-support.js';

const WORKER = 'gpu-worker/src/main.js';

async function capabilities(
  run: LauncherRun,
  key: string,
): Promise<Array<{ name: string; workers: number }>> {
  const res = await fetch(`http://127.0.0.1:${run.ports.GATEWAY_PORT}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: '{ capabilities { name workers } }' }),
  });
  const body = (await res.json()) as {
    errors?: unknown;
    data?: { capabilities: Array<{ name: string; workers: number }> };
  };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!.capabilities;
}

/**
 * The launcher as an orchestrator: a crashed app is restarted with backoff; a second launcher on the same data
 * dir refuses with the command to stop the first; a SIGKILLed launcher takes every child with it (lifeline);
 * the next start on the same data dir works; a crash loop stops the stack with a clear message.
 */
describe('npm start heals itself and never leaks a stack', () => {
  it('restarts a SIGKILLed worker, refuses a second launcher, and leaves nothing when SIGKILLed', async () => {
    const ports = await freeLauncherPorts();
    const first = startLauncher({ ports });
    const { dataDir } = first;
    let second: LauncherRun | undefined;
    let third: LauncherRun | undefined;
    try {
      const key = await first.key();
      const workerPid = pidOf(dataDir, WORKER)!;
      expect(workerPid).toBeDefined();

      process.kill(workerPid, 'SIGKILL'); // as the OOM killer would
      await waitFor(() => /gpu-worker is ready again/.test(first.output()), {
        timeoutMs: 60_000,
        what: 'the worker restarted and ready',
        logs: first.output,
      });
      expect(first.output()).toMatch(/gpu-worker exited unexpectedly \(SIGKILL\).*Restarting in/);
      const restartedPid = pidOf(dataDir, WORKER);
      expect(restartedPid).toBeDefined();
      expect(restartedPid).not.toBe(workerPid);
      await waitFor(
        async () => (await capabilities(first, key)).some((c) => c.name === 'image.resize' && c.workers > 0),
        { timeoutMs: 30_000, what: 'the restarted worker offers its tasks' },
      );

      // A second launcher on the same data dir: refused, with the exact command to stop the first.
      second = startLauncher({ dataDir, ports: await freeLauncherPorts() });
      expect(await second.exited).toBe(1);
      expect(second.output()).toContain(`kill ${first.proc.pid}`);

      // The launcher SIGKILLed (terminal closed, kill -9): every child follows it through the lifeline.
      first.proc.kill('SIGKILL');
      await first.exited;
      await waitFor(() => processesOf(dataDir).length === 0, {
        timeoutMs: 30_000,
        what: 'every child of the killed launcher gone',
        logs: () => processesOf(dataDir).join(' '),
      });

      // The next start on the same data dir and ports comes up, with the same dev key.
      third = startLauncher({ dataDir, ports, env: { SWITCHYARD_RESTART_MAX: '1' } });
      expect(await third.key()).toBe(key);

      // A crash loop (more than SWITCHYARD_RESTART_MAX restarts in the window) stops the stack, saying why.
      process.kill(pidOf(dataDir, WORKER)!, 'SIGKILL');
      await waitFor(() => /gpu-worker is ready again/.test(third!.output()), {
        timeoutMs: 60_000,
        what: 'the first restart',
        logs: third.output,
      });
      process.kill(pidOf(dataDir, WORKER)!, 'SIGKILL');
      expect(await third.exited).toBe(1);
      expect(third.output()).toMatch(
        /gpu-worker keeps crashing \(1 restarts within 60 s\): stopping the stack/,
      );
      expect(processesOf(dataDir)).toEqual([]);
    } finally {
      for (const run of [first, second, third]) if (run) killStack(run);
    }
  }, 400_000);
});
