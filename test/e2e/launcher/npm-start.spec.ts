import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freeLauncherPorts,
  killStack,
  pidOf,
  processesOf,
  startedAtMs,
  startLauncher,
} from './launcher-support.js';

const APPS = ['jobs-subgraph', 'artifacts-subgraph', 'gpu-worker', 'gateway'];

/**
 * `npm start`'s launcher (dist/scripts/start.js) on free ports: it starts its own redis-server and local S3
 * server, the four apps, prints a working dev key last, and Ctrl-C (SIGINT) stops every process it started.
 */
describe('the one-command stack', () => {
  it('comes up with embedded Redis and S3, serves GraphQL with the printed key, and stops cleanly', async () => {
    const ports = await freeLauncherPorts();
    const run = startLauncher({ ports });
    const { dataDir } = run;
    try {
      const key = await run.key();
      const out = run.output();
      expect(out).toMatch(new RegExp(`redis-server on redis://127.0.0.1:${ports.SWITCHYARD_REDIS_PORT}`));
      expect(out).toMatch(new RegExp(`local S3 server on http://127.0.0.1:${ports.SWITCHYARD_S3_PORT}`));
      expect(out.trim().split('\n').at(-1)).toBe(key); // the key alone on the last line
      expect(out).toMatch(/Switchyard is up in \d+\.\d s\./);

      // Each app says how long it took from its spawn to ready, and all four boot in parallel: every one was
      // spawned before the first of them was ready (the apps need the servers, not each other).
      const readyIn = APPS.map((app) => {
        const m = new RegExp(`\\] ${app} ready on port \\d+ in (\\d+) ms`).exec(out);
        expect(m).not.toBeNull();
        return Number(m![1]);
      });
      const spawnedAt = APPS.map((app) => startedAtMs(pidOf(dataDir, `dist/apps/${app}/src/main.js`)!));
      expect(Math.max(...spawnedAt) - Math.min(...spawnedAt)).toBeLessThan(Math.min(...readyIn));

      const ready = await fetch(`http://127.0.0.1:${ports.GATEWAY_PORT}/health/ready`);
      expect(ready.status).toBe(200);
      const res = await fetch(`http://127.0.0.1:${ports.GATEWAY_PORT}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ templates { name } capabilities { name workers } }' }),
      });
      const body = (await res.json()) as { errors?: unknown; data: any };
      expect(body.errors).toBeUndefined();
      expect(body.data.templates.map((t: { name: string }) => t.name)).toEqual(
        expect.arrayContaining(['thumbnail', 'train-and-evaluate']),
      );
      expect(body.data.capabilities.map((c: { name: string }) => c.name)).toContain('image.resize');
      expect(existsSync(join(dataDir, 'redis', 'appendonlydir'))).toBe(true); // AOF on, in the data dir
      expect(existsSync(join(dataDir, 'stack.json'))).toBe(true); // who runs the stack on this dir
      expect(processesOf(dataDir).length).toBeGreaterThanOrEqual(6); // redis, s3, four apps (+ runners)
    } finally {
      run.proc.kill('SIGINT');
    }
    try {
      expect(await run.exited).toBe(0);
      expect(run.output()).toMatch(/stopped/);
      // Every process it started, children of children included, is gone.
      expect(processesOf(dataDir)).toEqual([]);
      expect(existsSync(join(dataDir, 'stack.json'))).toBe(false);
      // Each app wrote its own log file (its stdout/stderr), from start to its last line on the way out.
      for (const app of APPS) {
        const log = readFileSync(join(dataDir, 'logs', `${app}.log`), 'utf8');
        expect(log).toContain(`${app} listening on http://127.0.0.1:`);
        expect(log).toContain('"msg":"stopped"');
      }
    } finally {
      killStack(run);
    }
  }, 240_000);
});
