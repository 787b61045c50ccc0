/**
 * `npm start`: the whole stack on one machine with embedded defaults.
 *
 * Starts redis-server (unless REDIS_URL is set) and the local S3 server (unless S3_ENDPOINT is set) side by
 * side, then the jobs and artifacts subgraphs, the gpu-worker and the gateway in parallel, each as soon as the
 * servers it uses accept connections; waits until every one is ready (saying how long each took); prints the
 * GraphQL URL and a dev API key. A child that crashes is restarted with backoff; one that keeps crashing stops
 * the stack. Children hold a lifeline to the launcher and exit when it dies, however it died; a stack left on
 * the same data dir is found through `<data dir>/stack.json`. SIGINT/SIGTERM stop everything, the gateway
 * first and the servers last, within SWITCHYARD_STOP_TIMEOUT_MS, and exit 0. The environment reaches every app;
 * each child's output goes to its log file in `<data dir>/logs`.
 */
import { spawn, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '#libs/config';
import {
  findLeftoverStack,
  LIFELINE_ENV,
  LIFELINE_FD,
  portInUse,
  removeStackFile,
  spawnRedisServer,
  spawnS3Server,
  stopProcesses,
  waitForPort,
  writeStackFile,
} from '#libs/local-stack';
import { ensureRedisServer, persistentSecret } from './launcher/dev-setup.js';
import { launcherEnv } from './launcher/launcher-env.js';
import { ManagedProcess, READY_POLL_MS } from './launcher/managed-process.js';
import { readyBanner } from './launcher/ready-banner.js';
import { waitUntilReady } from './launcher/readiness.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

/**
 * Children get their own process group, so a terminal's Ctrl-C reaches only the launcher, which then stops
 * them in order (the worker can still hand attempts back to Redis before Redis stops); fd 3 is the lifeline.
 */
const CHILD_SPAWN: SpawnOptions = { detached: true };
/** Servers stop last and get this much of the stop budget to themselves. */
const SERVER_STOP_RESERVE_MS = 3_000;
/** The embedded servers start in well under a second; their ports are probed this often until they do. */
const SERVER_START_TIMEOUT_MS = 15_000;
const SERVER_POLL_MS = 20;
/** Ctrl-C stops the apps in this order (the gateway, then the worker, which hands its attempts back to Redis), then the servers. */
const STOP_ORDER = ['gateway', 'gpu-worker', 'artifacts-subgraph', 'jobs-subgraph', 's3', 'redis'];

const say = (msg: string) => process.stdout.write(`[switchyard] ${msg}\n`);
const fail = (msg: string): never => {
  process.stderr.write(`[switchyard] ${msg}\n`);
  process.exit(1);
};

async function main(): Promise<void> {
  const launched = Date.now() - Math.round(process.uptime() * 1000);
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

  const leftover = findLeftoverStack(dataDir);
  if (leftover.state === 'running')
    fail(
      `a Switchyard stack already runs on ${dataDir} (launcher pid ${leftover.launcherPid}). ` +
        `Stop it with: kill ${leftover.launcherPid}   (or Ctrl-C in its terminal), or set another SWITCHYARD_DATA_DIR`,
    );
  if (leftover.state === 'orphaned') {
    const what = leftover.children.map((c) => `${c.name} (pid ${c.pid})`).join(', ');
    say(
      `the launcher of a previous stack on ${dataDir} died (pid ${leftover.launcherPid}); stopping what it left: ${what}`,
    );
    await stopProcesses(
      leftover.children.map((c) => c.pid),
      10_000,
    );
  }

  const wanted = [
    ...(config.REDIS_URL ? [] : [['SWITCHYARD_REDIS_PORT', config.SWITCHYARD_REDIS_PORT] as const]),
    ...(config.S3_ENDPOINT ? [] : [['SWITCHYARD_S3_PORT', config.SWITCHYARD_S3_PORT] as const]),
    ['JOBS_SUBGRAPH_PORT', config.JOBS_SUBGRAPH_PORT],
    ['ARTIFACTS_SUBGRAPH_PORT', config.ARTIFACTS_SUBGRAPH_PORT],
    ['WORKER_HEALTH_PORT', config.WORKER_HEALTH_PORT],
    ['GATEWAY_PORT', config.GATEWAY_PORT],
  ] as const;
  for (const [name, p] of wanted)
    if (await portInUse(p))
      fail(
        `port ${p} (${name}) is already in use on 127.0.0.1: stop what listens there, or set ${name} to a free port`,
      );

  const managed: ManagedProcess[] = [];
  let stopping = false;
  const recordStack = () =>
    writeStackFile(dataDir, {
      launcherPid: process.pid,
      startedAt: new Date().toISOString(),
      children: managed.flatMap((m) => (m.pid ? [{ name: m.name, pid: m.pid }] : [])),
    });

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    const deadline = Date.now() + config.SWITCHYARD_STOP_TIMEOUT_MS;
    // The gateway first, the storage servers last (with a reserve of the budget).
    const rank = (m: ManagedProcess) => STOP_ORDER.indexOf(m.name);
    for (const m of [...managed].sort((a, b) => rank(a) - rank(b))) {
      const server = m.name === 'redis' || m.name === 's3';
      await m.stop(server ? deadline : deadline - SERVER_STOP_RESERVE_MS);
    }
    removeStackFile(dataDir);
    say('stopped');
    process.exit(code);
  };
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));
  // Last resort if the launcher dies on an error: leave no child behind (the lifeline covers SIGKILL).
  process.once('exit', () => managed.forEach((m) => m.killNow()));

  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  env.SWITCHYARD_DATA_DIR = dataDir;
  env.SWITCHYARD_IDENTITY_SECRET ??= persistentSecret(join(dataDir, 'identity-secret'));
  const childEnv = (): Record<string, string> => ({ ...env, [LIFELINE_ENV]: String(LIFELINE_FD) });

  const manage = (name: string, spawnIt: (stdio: StdioOptions) => ChildProcess, readyUrl?: string) => {
    const m = new ManagedProcess(
      {
        name,
        spawn: spawnIt,
        logFile: join(logDir, `${name}.log`),
        echo: config.SWITCHYARD_LOGS === 'console',
        readyUrl,
      },
      {
        maxRestarts: config.SWITCHYARD_RESTART_MAX,
        windowMs: config.SWITCHYARD_RESTART_WINDOW_MS,
        baseDelayMs: 1_000,
        maxDelayMs: 30_000,
      },
      {
        say,
        spawned: () => !stopping && recordStack(),
        crashLoop: (who, restarts) => {
          say(
            `${who} keeps crashing (${restarts} restarts within ${config.SWITCHYARD_RESTART_WINDOW_MS / 1000} s): stopping the stack`,
          );
          void stopAll(1);
        },
      },
    );
    managed.push(m);
    m.start();
    return m;
  };

  // The servers' URLs are known before they start (their ports are configured), so every child gets the same
  // environment; only each app's spawn waits, until the servers it needs accept connections.
  let redisUp: Promise<void> = Promise.resolve();
  let s3Up: Promise<void> = Promise.resolve();
  if (!config.REDIS_URL) {
    ensureRedisServer(say, fail);
    const p = config.SWITCHYARD_REDIS_PORT;
    const dir = join(dataDir, 'redis');
    env.REDIS_URL = `redis://127.0.0.1:${p}`;
    const spawned = Date.now();
    manage('redis', (stdio) =>
      spawnRedisServer({ port: p, dir }, { ...CHILD_SPAWN, stdio, env: childEnv(), lifeline: true }),
    );
    redisUp = waitForPort(p, undefined, SERVER_START_TIMEOUT_MS, SERVER_POLL_MS).then(
      () => {
        say(`redis-server on ${env.REDIS_URL} (data in ${dir}, AOF on), ready in ${Date.now() - spawned} ms`);
      },
      () => fail(`redis-server did not start on port ${p}; see ${join(logDir, 'redis.log')}`),
    );
  }
  if (!config.S3_ENDPOINT) {
    const p = config.SWITCHYARD_S3_PORT;
    const dir = join(dataDir, 's3');
    env.S3_ENDPOINT = `http://127.0.0.1:${p}`;
    // The local S3 server knows one account (S3RVER) and checks no signature: fine on loopback in development.
    env.S3_ACCESS_KEY ??= 'S3RVER';
    env.S3_SECRET_KEY ??= 'S3RVER';
    const spawned = Date.now();
    manage('s3', (stdio) =>
      spawnS3Server(
        { port: p, dir, bucket: config.S3_BUCKET },
        { ...CHILD_SPAWN, stdio, env: childEnv(), lifeline: true },
      ),
    );
    s3Up = waitForPort(p, undefined, SERVER_START_TIMEOUT_MS, SERVER_POLL_MS).then(
      () => {
        say(
          `local S3 server on ${env.S3_ENDPOINT} (data in ${dir}; production uses MinIO or S3), ready in ${Date.now() - spawned} ms`,
        );
      },
      () => fail(`the local S3 server did not start on port ${p}; see ${join(logDir, 's3.log')}`),
    );
  }
  // Made (or checked) as soon as Redis is up, while the apps boot; its module loads ioredis, so it is
  // imported only now. Awaited once every app is ready; a failure stops the launcher there.
  const devKey = redisUp.then(async () =>
    (await import('./launcher/dev-api-key.js')).devApiKey(env.REDIS_URL!, join(dataDir, 'dev-api-key')),
  );
  devKey.catch(() => {});

  // Every app is spawned as soon as the servers it uses accept connections, all of them in parallel (none
  // needs another app: the gateway reads the composed supergraph from graphql/supergraph.graphql).
  const apps: Array<{ name: string; port: number; needs: Promise<void>[] }> = [
    { name: 'jobs-subgraph', port: config.JOBS_SUBGRAPH_PORT, needs: [redisUp] },
    { name: 'gateway', port: config.GATEWAY_PORT, needs: [redisUp] },
    { name: 'artifacts-subgraph', port: config.ARTIFACTS_SUBGRAPH_PORT, needs: [redisUp, s3Up] },
    { name: 'gpu-worker', port: config.WORKER_HEALTH_PORT, needs: [redisUp, s3Up] },
  ];
  // The worker runs tenants' code and has no use for the identity secret: it never gets it.
  const appEnv = (name: string) => {
    const e = childEnv();
    if (name === 'gpu-worker') delete e.SWITCHYARD_IDENTITY_SECRET;
    return e;
  };
  const readyUrl = (p: number) => `http://127.0.0.1:${p}/health/ready`;
  const deadline = Date.now() + config.SWITCHYARD_READY_TIMEOUT_MS;
  const ready = await Promise.all(
    apps.map(async (app) => {
      await Promise.all(app.needs);
      if (stopping) return false;
      const spawned = Date.now();
      manage(
        app.name,
        (stdio) =>
          spawn(process.execPath, [join(ROOT, 'dist/apps', app.name, 'src/main.js')], {
            cwd: ROOT,
            env: appEnv(app.name),
            ...CHILD_SPAWN,
            stdio,
          }),
        readyUrl(app.port),
      );
      const r = await waitUntilReady(readyUrl(app.port), {
        deadline,
        intervalMs: READY_POLL_MS,
        cancelled: () => stopping,
      });
      if (r.ready) say(`${app.name} ready on port ${app.port} in ${Date.now() - spawned} ms`);
      else if (!stopping) {
        say(`${app.name} is not ready after ${config.SWITCHYARD_READY_TIMEOUT_MS} ms: ${r.why}`);
        say(`see ${join(logDir, `${app.name}.log`)}`);
      }
      return r.ready;
    }),
  );
  if (stopping) return;
  if (!ready.every(Boolean)) return stopAll(1);

  const key = await devKey;
  for (const line of readyBanner({
    gatewayPort: config.GATEWAY_PORT,
    seconds: (Date.now() - launched) / 1000,
    logDir,
  }))
    say(line);
  process.stdout.write(`${key}\n`);
}

main().catch((e: unknown) => fail(e instanceof Error ? (e.stack ?? e.message) : String(e)));
