import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnRedisServer, spawnS3Server, waitForPort } from '#libs/local-stack';

/** Repository root, from this file's location (libs/testing/src). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/**
 * The processes this spec file started and that still run, on the file's global: the jest environment
 * (libs/testing/process-reaping-environment.js) kills what is left when the file is done.
 */
const recorded = globalThis as {
  __switchyardTestProcesses?: Set<ChildProcess>;
  __switchyardTestDirs?: Set<string>;
};
const live = (recorded.__switchyardTestProcesses ??= new Set<ChildProcess>());
/** The temp dirs tempDir() made: the jest environment removes them when the file is done. */
const dirs = (recorded.__switchyardTestDirs ??= new Set<string>());
// And outside jest's environment (a script using these helpers): never leave a server or a temp dir behind at exit.
process.once('exit', () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function track(p: ChildProcess): ChildProcess {
  live.add(p);
  p.once('exit', () => live.delete(p));
  return p;
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((r) => p.once('exit', () => r()));
}

async function stopProcess(
  p: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill(signal);
  const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await exited(p);
  clearTimeout(t);
}

/**
 * A fresh dir under the OS temp dir (or under `parent`, which must exist), removed when the spec file is done (or
 * the process exits).
 */
export function tempDir(prefix: string, parent: string = tmpdir()): string {
  const dir = mkdtempSync(join(parent, `switchyard-${prefix}-`));
  dirs.add(dir);
  return dir;
}

/** A server process on a fixed port and data dir that a test can kill and start again on the same data. */
interface ServerLifecycle {
  port: number;
  dataDir: string;
  pid(): number | undefined;
  /** Kill (default SIGKILL) and wait for the process to go. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port and data dir. */
  restart(): Promise<void>;
  /** Stop, and delete its data unless the caller gave the data dir. */
  stop(): Promise<void>;
}

async function startServer(
  port: number,
  dataDir: string,
  ownsDataDir: boolean,
  spawnServer: () => ChildProcess,
): Promise<ServerLifecycle> {
  let proc: ChildProcess;
  const boot = async () => {
    proc = track(spawnServer());
    await waitForPort(port);
  };
  await boot();
  return {
    port,
    dataDir,
    pid: () => proc.pid,
    async kill(signal = 'SIGKILL') {
      proc.kill(signal);
      await exited(proc);
    },
    restart: boot,
    async stop() {
      await stopProcess(proc);
      if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `restart()` replays the AOF: every acknowledged write is back. */
export interface RedisHandle extends ServerLifecycle {
  url: string;
}

/** A real redis-server on a free loopback port with AOF on, in its own data dir. */
export async function startRedis(opts: { dataDir?: string; port?: number } = {}): Promise<RedisHandle> {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? tempDir('redis');
  const server = await startServer(port, dataDir, !opts.dataDir, () =>
    spawnRedisServer({ port, dir: dataDir }),
  );
  return { ...server, url: `redis://127.0.0.1:${port}` };
}

export interface S3Handle extends ServerLifecycle {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Environment for our apps pointing at this server. */
  env: Record<string, string>;
}

/** The local S3 server (s3rver) on a free loopback port, in its own process and data dir. */
export async function startS3(opts: { bucket?: string; dataDir?: string } = {}): Promise<S3Handle> {
  const port = await freePort();
  const dataDir = opts.dataDir ?? tempDir('s3');
  const bucket = opts.bucket ?? 'switchyard-test';
  const server = await startServer(port, dataDir, !opts.dataDir, () =>
    spawnS3Server({ port, dir: dataDir, bucket }),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  // s3rver knows one account (S3RVER) and checks no signature; production uses MinIO or S3.
  const accessKey = 'S3RVER';
  const secretKey = 'S3RVER';
  return {
    ...server,
    endpoint,
    accessKey,
    secretKey,
    bucket,
    env: { S3_ENDPOINT: endpoint, S3_ACCESS_KEY: accessKey, S3_SECRET_KEY: secretKey, S3_BUCKET: bucket },
  };
}

export interface AppHandle {
  pid: number;
  port: number;
  url: string;
  process: ChildProcess;
  /** Everything the app printed so far (stdout + stderr). */
  logs(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, then SIGKILL after the grace period; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  /** Resolves when GET /health/ready answers 200. */
  waitReady(timeoutMs?: number): Promise<void>;
}

/**
 * Start one of our apps from its built entry (e.g. 'dist/apps/gateway/src/main.js', relative to the repo root)
 * with `env` on top of this process's environment. `port` is the port the app will listen on (for the url).
 */
export async function startApp(entry: string, env: Record<string, string>, port: number): Promise<AppHandle> {
  let output = '';
  const proc = track(
    spawn(process.execPath, [resolve(REPO_ROOT, entry)], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const handle: AppHandle = {
    pid: proc.pid!,
    port,
    url,
    process: proc,
    logs: () => output,
    async kill(signal = 'SIGKILL') {
      proc.kill(signal);
      await exited(proc);
    },
    async stop(graceMs = 15_000) {
      await stopProcess(proc, 'SIGTERM', graceMs);
      return proc.exitCode;
    },
    async waitReady(timeoutMs = 30_000) {
      await waitFor(
        async () => {
          if (proc.exitCode !== null)
            throw new Error(`${entry} exited with ${proc.exitCode}:\n${output.slice(-4000)}`);
          const res = await fetch(`${url}/health/ready`).catch(() => null);
          return res?.status === 200;
        },
        { timeoutMs, what: `${entry} ready on ${url}`, logs: () => output.slice(-4000) },
      );
    },
  };
  return handle;
}

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a node script (e.g. one bundleChild() made) with `args` to its end, SIGKILLed after `timeoutMs`; resolves
 * with how it ended and what it printed. For children that are meant to die (crash seams): whatever it does, it
 * is reaped with the spec file.
 */
export function runNodeChild(
  file: string,
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<ChildRun> {
  const proc = track(
    spawn(process.execPath, [file, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  return new Promise((resolve) => {
    // 'close', not 'exit': every byte it printed has been read by then
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Poll `fn` until it returns a truthy value (tests only: production code waits on events). */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string; logs?: () => string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      if (e instanceof Error && / exited with /.test(e.message)) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      const extra = opts.logs ? `\n--- logs ---\n${opts.logs()}` : '';
      throw new Error(
        `timed out after ${opts.timeoutMs ?? 10_000} ms waiting for ${opts.what ?? 'condition'}${lastError ? ` (last error: ${String(lastError)})` : ''}${extra}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

export { freePort };
