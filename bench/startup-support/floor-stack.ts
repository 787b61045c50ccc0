/**
 * The start-up benchmark's peer: the floor under `npm start` on this machine. The same servers the launcher
 * starts (bare, without the lifeline guard), then four minimal Nest apps in
 * parallel once they accept connections, each probed for readiness like the launcher probes ours. Nothing of
 * Switchyard runs: what is left is the cost of the processes, the servers and Nest itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnRedisServer, spawnS3Server, waitForPort } from '#libs/local-stack';
import { READY_POLL_MS } from '../../scripts/launcher/managed-process.js';
import { waitUntilReady } from '../../scripts/launcher/readiness.js';

const MINIMAL_APP = resolve(fileURLToPath(new URL('.', import.meta.url)), 'minimal-nest-app.js');
const APPS = 4;

export interface FloorRun {
  /** From the first spawn to every minimal app ready. */
  readyMs: number;
  /** Each minimal app, from its spawn to ready. */
  appReadyMs: number[];
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    }),
  );
}

export async function runFloorStack(timeoutMs: number): Promise<FloorRun> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-floor-'));
  const children: ChildProcess[] = [];
  try {
    const [redisPort, s3Port, ...appPorts] = await Promise.all(
      Array.from({ length: 2 + APPS }, () => freePort()),
    );
    const started = performance.now();
    children.push(spawnRedisServer({ port: redisPort!, dir: join(dir, 'redis') }));
    children.push(spawnS3Server({ port: s3Port!, dir: join(dir, 's3'), bucket: 'artifacts' }));
    await Promise.all([
      waitForPort(redisPort!, undefined, timeoutMs, 20),
      waitForPort(s3Port!, undefined, timeoutMs, 20),
    ]);
    const deadline = Date.now() + timeoutMs;
    const appReadyMs = await Promise.all(
      appPorts.map(async (port) => {
        const spawned = performance.now();
        const child = spawn(process.execPath, [MINIMAL_APP], {
          env: { ...process.env, PORT: String(port) },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        children.push(child);
        const r = await waitUntilReady(`http://127.0.0.1:${port}/health/ready`, {
          deadline,
          intervalMs: READY_POLL_MS,
          cancelled: () => child.exitCode !== null,
        });
        if (!r.ready) throw new Error(`a minimal Nest app was not ready: ${r.why}`);
        return performance.now() - spawned;
      }),
    );
    return { readyMs: performance.now() - started, appReadyMs };
  } finally {
    await stopAll(children);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A plain node:http server: spawn → first 200, the floor of any Node process that serves HTTP. */
export async function runPlainHttpServer(timeoutMs: number): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ['-e', `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`],
    { stdio: 'ignore' },
  );
  try {
    const r = await waitUntilReady(`http://127.0.0.1:${port}/`, {
      deadline: Date.now() + timeoutMs,
      intervalMs: 10,
      cancelled: () => child.exitCode !== null,
    });
    if (!r.ready) throw new Error(`the plain http server was not ready: ${r.why}`);
    return performance.now() - started;
  } finally {
    await stopAll([child]);
  }
}
