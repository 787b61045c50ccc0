import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, REPO_ROOT, tempDir, waitFor } from '#libs/testing';

/** PIDs of live processes whose environment holds `SWITCHYARD_DATA_DIR=<dataDir>` (all the launcher starts). */
function processesOf(dataDir: string): number[] {
  const needle = `SWITCHYARD_DATA_DIR=${dataDir}\0`;
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/environ`, 'utf8').includes(needle);
      } catch {
        return false; // gone meanwhile, or not ours to read
      }
    })
    .map(Number);
}

/**
 * `npm start`'s launcher (dist/scripts/start.js) on free ports: it starts its own redis-server and local S3
 * server, the four apps, prints a working dev key last, and Ctrl-C (SIGINT) stops every process it started.
 */
describe('the one-command stack', () => {
  it('comes up with embedded Redis and S3, serves GraphQL with the printed key, and stops cleanly', async () => {
    const dataDir = tempDir('launcher');
    const ports = {
      GATEWAY_PORT: await freePort(),
      JOBS_SUBGRAPH_PORT: await freePort(),
      ARTIFACTS_SUBGRAPH_PORT: await freePort(),
      WORKER_HEALTH_PORT: await freePort(),
      SWITCHYARD_REDIS_PORT: await freePort(),
      SWITCHYARD_S3_PORT: await freePort(),
    };
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      SWITCHYARD_DATA_DIR: dataDir,
    };
    delete env.REDIS_URL;
    delete env.S3_ENDPOINT;
    for (const [k, v] of Object.entries(ports)) env[k] = String(v);
    env.JOBS_SUBGRAPH_URL = `http://127.0.0.1:${ports.JOBS_SUBGRAPH_PORT}/graphql`;
    env.ARTIFACTS_SUBGRAPH_URL = `http://127.0.0.1:${ports.ARTIFACTS_SUBGRAPH_PORT}/graphql`;

    const launcher = spawn(process.execPath, [join(REPO_ROOT, 'dist/scripts/start.js')], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    launcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
    launcher.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => launcher.once('exit', (code) => r(code)));
    try {
      const key = await waitFor(() => /^(sy_[0-9a-f]+_[0-9a-f]+)\s*$/m.exec(out)?.[1], {
        timeoutMs: 150_000,
        what: 'the dev API key',
        logs: () => out,
      });
      expect(out).toMatch(new RegExp(`redis-server on redis://127.0.0.1:${ports.SWITCHYARD_REDIS_PORT}`));
      expect(out).toMatch(new RegExp(`local S3 server on http://127.0.0.1:${ports.SWITCHYARD_S3_PORT}`));
      expect(out.trim().split('\n').at(-1)).toBe(key); // the key alone on the last line

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
      expect(processesOf(dataDir).length).toBeGreaterThanOrEqual(6); // redis, s3, four apps (+ runners)
    } finally {
      launcher.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/stopped/);
    // Every process it started, children of children included, is gone.
    expect(processesOf(dataDir)).toEqual([]);
  }, 240_000);
});
