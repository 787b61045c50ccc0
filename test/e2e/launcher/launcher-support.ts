// `npm start`'s launcher (dist/scripts/start.js) as a test runs it: on free ports, in its own data dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, REPO_ROOT, tempDir, testCommandTaskEnv, waitFor } from '#libs/testing';

/** PIDs of live processes whose environment holds `SWITCHYARD_DATA_DIR=<dataDir>` (all the launcher starts). */
export function processesOf(dataDir: string): number[] {
  const needle = `SWITCHYARD_DATA_DIR=${dataDir}\0`;
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        if (/\) Z /.test(stat)) return false; // a zombie is gone, only not yet reaped by its parent
        return readFileSync(`/proc/${d}/environ`, 'utf8').includes(needle);
      } catch {
        return false; // gone meanwhile, or not ours to read
      }
    })
    .map(Number);
}

/** The pid of the stack's process whose command line contains `what` (e.g. 'gpu-worker/src/main.js'). */
export function pidOf(dataDir: string, what: string): number | undefined {
  return processesOf(dataDir).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(what);
    } catch {
      return false;
    }
  });
}

/** When a process started, in ms since boot (/proc/<pid>/stat field 22, in clock ticks of 10 ms). */
export function startedAtMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[19]) * 10;
}

export interface LauncherRun {
  proc: ChildProcess;
  dataDir: string;
  ports: Record<string, number>;
  output(): string;
  exited: Promise<number | null>;
  /** Waits for the dev API key on the last line. */
  key(): Promise<string>;
}

export async function freeLauncherPorts(): Promise<Record<string, number>> {
  return {
    GATEWAY_PORT: await freePort(),
    JOBS_SUBGRAPH_PORT: await freePort(),
    ARTIFACTS_SUBGRAPH_PORT: await freePort(),
    WORKER_HEALTH_PORT: await freePort(),
    SWITCHYARD_REDIS_PORT: await freePort(),
    SWITCHYARD_S3_PORT: await freePort(),
  };
}

export function startLauncher(opts: {
  dataDir?: string;
  ports: Record<string, number>;
  env?: Record<string, string>;
}): LauncherRun {
  const dataDir = opts.dataDir ?? tempDir('launcher');
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    SWITCHYARD_DATA_DIR: dataDir,
    ...testCommandTaskEnv(), // the stack's worker: this test run's command-task uids, not 61000
    ...opts.env,
  };
  delete env.REDIS_URL;
  delete env.S3_ENDPOINT;
  for (const [k, v] of Object.entries(opts.ports)) env[k] = String(v);
  env.JOBS_SUBGRAPH_URL = `http://127.0.0.1:${opts.ports.JOBS_SUBGRAPH_PORT}/graphql`;
  env.ARTIFACTS_SUBGRAPH_URL = `http://127.0.0.1:${opts.ports.ARTIFACTS_SUBGRAPH_PORT}/graphql`;
  const proc = spawn(process.execPath, [join(REPO_ROOT, 'dist/scripts/start.js')], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    dataDir,
    ports: opts.ports,
    output: () => out,
    exited,
    key: () =>
      waitFor(() => /^(sy_[0-9a-f]+_[0-9a-f]+)\s*$/m.exec(out)?.[1], {
        timeoutMs: 150_000,
        what: 'the dev API key',
        logs: () => out,
      }),
  };
}

/** Ends whatever of the stack is still alive (a failed test must leave nothing behind). */
export function killStack(run: LauncherRun): void {
  try {
    run.proc.kill('SIGKILL');
  } catch {
    // gone
  }
  for (const pid of processesOf(run.dataDir))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
}
