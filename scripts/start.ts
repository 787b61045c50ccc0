/**
 * `npm start`: the whole stack on one machine with embedded defaults.
 *
 * Starts redis-server (unless REDIS_URL is set) and the local S3 server (unless S3_ENDPOINT is set), then the
 * jobs and artifacts subgraphs, the gpu-worker and the gateway; waits until every one is ready; prints the
 * GraphQL URL and a dev API key. SIGINT/SIGTERM stop everything in reverse order and exit 0.
 * The environment it is given reaches every app, so ports and flags can be changed as usual.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ALL_SCOPES } from '#libs/contracts';
import { ApiKeyStore } from '#libs/auth';
import { loadConfig, port, portsEnv, positiveInt, runtimeEnv, s3Env, url } from '#libs/config';
import { findRedisServer, spawnRedisServer, spawnS3Server, waitForPort } from '#libs/local-stack';
import { createRedis, quitRedis, waitForRedisReady } from '#libs/redis';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

const launcherEnv = {
  ...runtimeEnv,
  ...portsEnv,
  // Unset means "start the embedded server" here, so no default.
  REDIS_URL: url(['redis', 'rediss'], 'redis://127.0.0.1:6379').optional(),
  S3_ENDPOINT: url(['http', 'https'], 'http://127.0.0.1:9000').optional(),
  S3_BUCKET: s3Env.S3_BUCKET,
  /** Ports of the embedded servers (used only when they are started here). */
  SWITCHYARD_REDIS_PORT: port(6379),
  SWITCHYARD_S3_PORT: port(9000),
  SWITCHYARD_READY_TIMEOUT_MS: positiveInt(120_000),
  /** `console` also streams every app's JSON log lines to this terminal. */
  SWITCHYARD_LOGS: z.enum(['files', 'console'], { message: 'expected files or console' }).default('files'),
};

/**
 * Children get their own process group, so a terminal's Ctrl-C reaches only the launcher, which then stops
 * them in order (the worker can still hand attempts back to Redis before Redis stops).
 */
const OWN_GROUP = { stdio: ['ignore', 'pipe', 'pipe'] as StdioOptions, detached: true };

type Managed = { name: string; proc: ChildProcess; log?: WriteStream };

const say = (msg: string) => process.stdout.write(`[switchyard] ${msg}\n`);
const fail = (msg: string): never => {
  process.stderr.write(`[switchyard] ${msg}\n`);
  process.exit(1);
};

function ensureRedisServer(): void {
  if (findRedisServer()) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root)
    fail('redis-server is not installed. Run: sudo apt-get install -y redis-server   (then npm start again)');
  say('redis-server is missing: installing it with apt-get (running as root)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', 'redis-server'], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', 'redis-server'], { stdio: 'inherit', env });
  }
  if (r.status !== 0 || !findRedisServer())
    fail('apt-get install -y redis-server failed; install it and run npm start again');
}

/** A random secret kept in the data dir, so restarts keep signed identities and nothing is a default. */
function persistentSecret(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

async function devApiKey(redisUrl: string, file: string): Promise<string> {
  const redis = createRedis({
    url: redisUrl,
    name: 'launcher',
    role: 'command',
    logger: { info() {}, warn() {}, error() {} },
  });
  try {
    await waitForRedisReady(redis);
    const keys = new ApiKeyStore(redis);
    if (existsSync(file)) {
      const existing = readFileSync(file, 'utf8').trim();
      const ok = await keys.verify(existing).then(
        () => true,
        () => false,
      );
      if (ok) return existing;
    }
    const { key } = await keys.create({ tenant: 'dev', scopes: [...ALL_SCOPES], name: 'dev (npm start)' });
    writeFileSync(file, key, { mode: 0o600 });
    return key;
  } finally {
    await quitRedis(redis);
  }
}

async function main(): Promise<void> {
  const config = (() => {
    try {
      return loadConfig(launcherEnv);
    } catch (e) {
      return fail((e as Error).message);
    }
  })();
  const dataDir = resolve(config.SWITCHYARD_DATA_DIR);
  const logDir = join(dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });

  const managed: Managed[] = [];
  let stopping = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    // Reverse start order: the gateway first, the storage servers last.
    for (const m of [...managed].reverse()) {
      if (m.proc.exitCode !== null || m.proc.signalCode !== null) continue;
      const gone = new Promise<void>((r) => m.proc.once('exit', () => r()));
      m.proc.kill('SIGTERM');
      const t = setTimeout(() => {
        say(`${m.name} did not stop in time: SIGKILL`);
        m.proc.kill('SIGKILL');
      }, 30_000);
      await gone;
      clearTimeout(t);
      m.log?.end();
    }
    say('stopped');
    process.exit(code);
  };
  process.once('SIGINT', () => void stopAll(0));
  // Last resort if the launcher dies on an error: leave no child behind.
  process.once('exit', () => {
    for (const m of managed)
      if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.kill('SIGKILL');
  });
  process.once('SIGTERM', () => void stopAll(0));

  const watch = (m: Managed) => {
    m.proc.once('exit', (code, signal) => {
      if (stopping) return;
      say(
        `${m.name} exited unexpectedly (${signal ?? `code ${code}`}); see ${join(logDir, `${m.name}.log`)}`,
      );
      void stopAll(1);
    });
    managed.push(m);
  };

  const logTo = (name: string, proc: ChildProcess): WriteStream => {
    const log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
    for (const stream of [proc.stdout, proc.stderr]) {
      stream?.pipe(log, { end: false });
      if (config.SWITCHYARD_LOGS === 'console')
        stream?.on('data', (d: Buffer) => process.stdout.write(`[${name}] ${d}`));
    }
    return log;
  };

  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  env.SWITCHYARD_DATA_DIR = dataDir;
  env.SWITCHYARD_IDENTITY_SECRET ??= persistentSecret(join(dataDir, 'identity-secret'));

  if (!config.REDIS_URL) {
    ensureRedisServer();
    const p = config.SWITCHYARD_REDIS_PORT;
    const proc = spawnRedisServer({ port: p, dir: join(dataDir, 'redis') }, OWN_GROUP);
    watch({ name: 'redis', proc, log: logTo('redis', proc) });
    await waitForPort(p).catch(() =>
      fail(`redis-server did not start on port ${p}; see ${join(logDir, 'redis.log')}`),
    );
    env.REDIS_URL = `redis://127.0.0.1:${p}`;
    say(`redis-server on ${env.REDIS_URL} (data in ${join(dataDir, 'redis')}, AOF on)`);
  }
  if (!config.S3_ENDPOINT) {
    const p = config.SWITCHYARD_S3_PORT;
    const proc = spawnS3Server({ port: p, dir: join(dataDir, 's3'), bucket: config.S3_BUCKET }, OWN_GROUP);
    watch({ name: 's3', proc, log: logTo('s3', proc) });
    await waitForPort(p).catch(() =>
      fail(`the local S3 server did not start on port ${p}; see ${join(logDir, 's3.log')}`),
    );
    env.S3_ENDPOINT = `http://127.0.0.1:${p}`;
    // The local S3 server knows one account (S3RVER) and checks no signature: fine on loopback in development.
    env.S3_ACCESS_KEY ??= 'S3RVER';
    env.S3_SECRET_KEY ??= 'S3RVER';
    say(
      `local S3 server on ${env.S3_ENDPOINT} (data in ${join(dataDir, 's3')}; production uses MinIO or S3)`,
    );
  }

  const apps: Array<{ name: string; port: number }> = [
    { name: 'jobs-subgraph', port: config.JOBS_SUBGRAPH_PORT },
    { name: 'artifacts-subgraph', port: config.ARTIFACTS_SUBGRAPH_PORT },
    { name: 'gpu-worker', port: config.WORKER_HEALTH_PORT },
    { name: 'gateway', port: config.GATEWAY_PORT },
  ];
  for (const app of apps) {
    // The worker runs tenants' code and has no use for the identity secret: it never gets it.
    const appEnv = { ...env };
    if (app.name === 'gpu-worker') delete appEnv.SWITCHYARD_IDENTITY_SECRET;
    const proc = spawn(process.execPath, [join(ROOT, 'dist/apps', app.name, 'src/main.js')], {
      cwd: ROOT,
      env: appEnv,
      ...OWN_GROUP,
    });
    watch({ name: app.name, proc, log: logTo(app.name, proc) });
  }

  const deadline = Date.now() + config.SWITCHYARD_READY_TIMEOUT_MS;
  for (const app of apps) {
    for (;;) {
      if (stopping) return;
      const res = await fetch(`http://127.0.0.1:${app.port}/health/ready`).catch(() => null);
      if (res?.status === 200) break;
      if (Date.now() > deadline) {
        const why = res ? await res.text() : 'not listening';
        say(`${app.name} is not ready after ${config.SWITCHYARD_READY_TIMEOUT_MS} ms: ${why}`);
        say(`see ${join(logDir, `${app.name}.log`)}`);
        return stopAll(1);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    say(`${app.name} ready on port ${app.port}`);
  }

  const key = await devApiKey(env.REDIS_URL!, join(dataDir, 'dev-api-key'));
  const url = `http://localhost:${config.GATEWAY_PORT}/graphql`;
  say('');
  say(`Switchyard is up. GraphQL (HTTP + graphql-ws): ${url}`);
  say(`Playground: open ${url} in a browser and set the header Authorization: Bearer <key>`);
  say(`Logs: ${logDir}   Stop: Ctrl-C`);
  say(
    `Try: curl -s ${url} -H 'content-type: application/json' -H "authorization: Bearer $KEY" -d '{"query":"{ capabilities { name versions } }"}'`,
  );
  say('Dev API key (tenant "dev", every scope):');
  process.stdout.write(`${key}\n`);
}

main().catch((e: unknown) => fail(e instanceof Error ? (e.stack ?? e.message) : String(e)));
