import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface RedisServerOptions {
  port: number;
  /** Data directory: AOF and RDB files live here, so a restart on the same dir keeps every write. */
  dir: string;
  bind?: string;
  /** Extra redis.conf directives, e.g. ['maxmemory', '1gb']. */
  extraArgs?: string[];
}

/** Path of redis-server, or null when it is not installed. */
export function findRedisServer(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path ? path : null;
}

/** The arguments we always run redis with: loopback only, AOF fsynced on every write, no eviction (BullMQ needs it). */
export function redisServerArgs(o: RedisServerOptions): string[] {
  return [
    '--port',
    String(o.port),
    '--bind',
    o.bind ?? '127.0.0.1',
    '--dir',
    o.dir,
    '--appendonly',
    'yes',
    // `always`: under `everysec` Redis may postpone the AOF write by up to 2 s while an fsync is slow, so a
    // SIGKILL could lose acknowledged writes; every write of ours must survive a kill.
    '--appendfsync',
    'always',
    '--maxmemory-policy',
    'noeviction',
    '--save',
    '',
    '--daemonize',
    'no',
    '--protected-mode',
    'yes',
    ...(o.extraArgs ?? []),
  ];
}

export interface SpawnOptions {
  stdio?: StdioOptions;
  detached?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Run under the lifeline guard (the launcher's children): Redis cannot watch a lifeline itself. */
  lifeline?: boolean;
}

export function spawnRedisServer(o: RedisServerOptions, spawnOpts: SpawnOptions = {}): ChildProcess {
  const bin = findRedisServer();
  if (!bin) throw new Error('redis-server is not installed: run `apt-get install -y redis-server` (as root)');
  mkdirSync(o.dir, { recursive: true });
  const [program, args] = spawnOpts.lifeline
    ? [
        process.execPath,
        [fileURLToPath(new URL('./lifeline-guard.js', import.meta.url)), bin, ...redisServerArgs(o)],
      ]
    : [bin, redisServerArgs(o)];
  return spawn(program, args, {
    stdio: spawnOpts.stdio ?? 'ignore',
    detached: spawnOpts.detached,
    env: spawnOpts.env,
  });
}
