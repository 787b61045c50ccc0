import { Redis } from 'ioredis';
import {
  freePort,
  startApp,
  startRedis,
  startS3,
  waitFor,
  type AppHandle,
  type RedisHandle,
  type S3Handle,
} from '#libs/testing';
import { FAST_WORKER_ENV } from '../worker-support/start-worker.js';

/**
 * Review finding (s15): nothing of ours checked Redis' maxmemory-policy. Under an evicting policy (allkeys-lru, or
 * volatile-lru, the default of some managed Redis) a full Redis drops job hashes, event logs, artifact records,
 * cancel markers... silently. The only trace was BullMQ's unstructured console.warn ("IMPORTANT! Eviction
 * policy is …"), printed by the apps that open a BullMQ queue (not the artifacts subgraph), with readiness green
 * and no metric. Now every app reads the policy (INFO memory) at each connection (`watchEvictionPolicy` in
 * libs/redis): a log line of its own outside production, a refusal (exit 78) in production; the jobs subgraph
 * reads it again on each scrape and exports it (switchyard_redis_eviction_policy_ok).
 */
/** Every app that keeps state in Redis, with the variable of the port it listens on (and its other needs). */
const APPS: Array<[string, string, Record<string, string>]> = [
  ['artifacts-subgraph', 'ARTIFACTS_SUBGRAPH_PORT', {}],
  ['jobs-subgraph', 'JOBS_SUBGRAPH_PORT', {}],
  ['gateway', 'GATEWAY_PORT', {}], // API keys, subscription slots, rate-limit counters
  ['gpu-worker', 'WORKER_HEALTH_PORT', { ...FAST_WORKER_ENV, WORKER_ID: 'evict-check' }], // reports, manifest
];
const SECRET = 'e2e-identity-secret-0123456789-abcdefgh';
const NAMES_POLICY = /maxmemory[-_ ]policy[^\n]*allkeys-lru|allkeys-lru[^\n]*maxmemory[-_ ]policy/i;

async function setPolicy(url: string, policy: string): Promise<void> {
  const admin = new Redis(url);
  try {
    await admin.config('SET', 'maxmemory-policy', policy);
  } finally {
    admin.disconnect();
  }
}

describe('Redis with an evicting maxmemory-policy', () => {
  let redis: RedisHandle;
  let s3: S3Handle;
  const apps: AppHandle[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    s3 = await startS3();
    await setPolicy(redis.url, 'allkeys-lru');
  });

  afterAll(async () => {
    for (const a of apps) await a.stop();
    await s3?.stop();
    await redis?.stop();
  });

  it.each(APPS)(
    '%s names the policy at start (a log line of its own, or a refusal)',
    async (app, portVar, env) => {
      const port = await freePort();
      const handle = await startApp(
        `dist/apps/${app}/src/main.js`,
        { ...s3.env, ...env, REDIS_URL: redis.url, [portVar]: String(port), NODE_ENV: 'test' },
        port,
      );
      apps.push(handle);
      await waitFor(() => NAMES_POLICY.test(handle.logs()), {
        timeoutMs: 20_000,
        what: `${app} to name Redis' maxmemory-policy allkeys-lru`,
        logs: () => handle.logs(),
      });
      // outside production it runs on, and the line is structured (pino) at error level
      const line = handle
        .logs()
        .split('\n')
        .find((l) => l.startsWith('{') && NAMES_POLICY.test(l));
      expect(JSON.parse(line!)).toMatchObject({ level: 'error', maxmemory_policy: 'allkeys-lru' });
      expect(handle.process.exitCode).toBeNull();
    },
    60_000,
  );

  it('jobs-subgraph in production refuses to start (exit 78), naming the policy and what to set', async () => {
    const port = await freePort();
    const handle = await startApp(
      'dist/apps/jobs-subgraph/src/main.js',
      {
        REDIS_URL: redis.url,
        JOBS_SUBGRAPH_PORT: String(port),
        NODE_ENV: 'production',
        SWITCHYARD_IDENTITY_SECRET: SECRET,
      },
      port,
    );
    apps.push(handle);
    const code = await new Promise<number | null>((r) =>
      handle.process.exitCode !== null
        ? r(handle.process.exitCode)
        : handle.process.once('exit', (c) => r(c)),
    );
    expect(code).toBe(78);
    expect(handle.logs()).toMatch(/refusing to start in production: Redis maxmemory-policy is allkeys-lru/);
    expect(handle.logs()).toMatch(/Set maxmemory-policy noeviction/);
  }, 60_000);
});

describe('Redis maxmemory-policy changed while the jobs subgraph runs', () => {
  let redis: RedisHandle;
  let app: AppHandle | undefined;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await app?.stop();
    await redis?.stop();
  });

  it('is read again on scrape: the gauge turns 0 with the policy as a label, and one log line says so', async () => {
    const port = await freePort();
    app = await startApp(
      'dist/apps/jobs-subgraph/src/main.js',
      { REDIS_URL: redis.url, JOBS_SUBGRAPH_PORT: String(port), NODE_ENV: 'test' },
      port,
    );
    await app.waitReady();
    const scrape = async () => (await fetch(`${app!.url}/metrics`)).text();
    const gauge = /^switchyard_redis_eviction_policy_ok\{([^}]*)\} (\d+)$/gm;
    const series = (text: string) =>
      [...text.matchAll(gauge)].map((m) => [m[1]!.match(/policy="([^"]*)"/)![1], m[2]]);

    const before = await scrape();
    expect(series(before)).toEqual([['noeviction', '1']]);
    expect(before).toMatch(/^switchyard_redis_evicted_keys\{[^}]*\} 0$/m);
    expect(app.logs()).not.toMatch(NAMES_POLICY);

    await setPolicy(redis.url, 'allkeys-lru');
    expect(series(await scrape())).toEqual([['allkeys-lru', '0']]);
    expect(series(await scrape())).toEqual([['allkeys-lru', '0']]);
    const lines = app
      .logs()
      .split('\n')
      .filter((l) => NAMES_POLICY.test(l));
    expect(lines).toHaveLength(1); // once per change, not once per scrape
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'error',
      maxmemory_policy: 'allkeys-lru',
      previous: 'noeviction',
    });
  }, 60_000);
});
