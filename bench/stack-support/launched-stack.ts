/**
 * The stack exactly as `npm start` runs it (dist/scripts/start.js: embedded redis-server and local S3 server,
 * both subgraphs, a gpu-worker, the gateway), on free loopback ports and a temporary data dir, for benchmarks
 * that measure Switchyard through the gateway only. `extraEnv` reaches every app (the launcher passes its
 * environment on). Stopped with SIGTERM (the launcher stops its children in order), SIGKILL after 30 s; the
 * data dir is removed. Needs `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, readStackFile } from '#libs/local-stack';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

export interface LaunchedStack {
  /** http://127.0.0.1:<gateway>/graphql */
  url: string;
  wsUrl: string;
  /** The dev API key the launcher printed (tenant "dev", every scope). */
  key: string;
  redisUrl: string;
  s3Endpoint: string;
  ports: { gateway: number; jobs: number; artifacts: number; worker: number; redis: number; s3: number };
  dataDir: string;
  /** From `npm start` (node dist/scripts/start.js, or `npm start` itself with `viaNpmStart`) to the printed key. */
  readyMs: number;
  /** What the launcher printed so far (stdout). */
  output(): string;
  /** pid per child name (redis, s3, jobs-subgraph, artifacts-subgraph, gpu-worker, gateway), from stack.json. */
  pids(): Record<string, number>;
  stop(): Promise<void>;
}

const live = new Map<ChildProcess, string>(); // → its data dir
process.once('exit', () => {
  for (const [c, dataDir] of live)
    if (c.exitCode === null) {
      c.kill('SIGKILL');
      // Under `npm start` the launcher is npm's grandchild: it goes too (its children follow by the lifeline).
      const launcherPid = readStackFile(dataDir)?.launcherPid;
      if (launcherPid)
        try {
          process.kill(launcherPid, 'SIGKILL');
        } catch {
          // gone
        }
    }
});

/**
 * For a stack under a benchmark's load of no-op jobs: the API key's rate limit and the tenant's quotas raised
 * beyond any benchmark's load (they measure cost, not limits), and the no-op task (test.sleep, ms 0) offered.
 */
export const NO_LIMITS_TEST_TASKS_ENV: Readonly<Record<string, string>> = {
  RATE_LIMIT_PER_MINUTE: '100000000',
  RATE_LIMIT_BURST: '1000000',
  TENANT_MAX_ACTIVE_JOBS: '10000000',
  TENANT_MAX_QUEUED_NODES: '10000000',
  SWITCHYARD_TEST_TASKS: '1',
};

export async function launchStack(
  extraEnv: Record<string, string> = {},
  opts: {
    readyTimeoutMs?: number;
    /** Run `npm start` (the build check, then the launcher) instead of the built launcher alone. */
    viaNpmStart?: boolean;
    /** The checkout to start (default: this one). */
    root?: string;
  } = {},
): Promise<LaunchedStack> {
  const root = opts.root ?? ROOT;
  const [gateway, jobs, artifacts, worker, redis, s3] = await Promise.all(
    Array.from({ length: 6 }, () => freePort()),
  );
  const ports = { gateway, jobs, artifacts, worker, redis, s3 };
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-stack-'));
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    SWITCHYARD_DATA_DIR: dataDir,
    GATEWAY_PORT: String(gateway),
    JOBS_SUBGRAPH_PORT: String(jobs),
    ARTIFACTS_SUBGRAPH_PORT: String(artifacts),
    WORKER_HEALTH_PORT: String(worker),
    SWITCHYARD_REDIS_PORT: String(redis),
    SWITCHYARD_S3_PORT: String(s3),
    ...extraEnv,
  };
  delete env.REDIS_URL;
  delete env.S3_ENDPOINT;
  const started = performance.now();
  const child = opts.viaNpmStart
    ? spawn('npm', ['start', '--silent'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [join(root, 'dist/scripts/start.js')], {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  live.set(child, dataDir);
  let out = '';
  child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const key = await new Promise<string>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`the stack was not up within ${opts.readyTimeoutMs ?? 180_000} ms:\n${out}`)),
      opts.readyTimeoutMs ?? 180_000,
    );
    child.stdout.on('data', () => {
      // The key is the line the launcher prints (without its [switchyard] prefix) after "Dev API key".
      const m = /Dev API key[^\n]*\n([^\s[]\S*)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`the launcher exited with ${code} before the stack was up:\n${out}`));
    });
  });
  const readyMs = performance.now() - started;
  child.stdout.resume();

  return {
    url: `http://127.0.0.1:${gateway}/graphql`,
    wsUrl: `ws://127.0.0.1:${gateway}/graphql`,
    key,
    redisUrl: `redis://127.0.0.1:${redis}`,
    s3Endpoint: `http://127.0.0.1:${s3}`,
    ports,
    dataDir,
    readyMs,
    output: () => out,
    pids: () =>
      Object.fromEntries((readStackFile(dataDir)?.children ?? []).map((c) => [c.name, c.pid] as const)),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        // npm does not pass SIGTERM on through its shell: the launcher itself gets it (its pid is in stack.json).
        const launcherPid = opts.viaNpmStart ? readStackFile(dataDir)?.launcherPid : undefined;
        if (launcherPid) process.kill(launcherPid, 'SIGTERM');
        else child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
