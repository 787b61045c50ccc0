import { spawnSync } from 'node:child_process';
import {
  freePort,
  REPO_ROOT,
  startApp,
  startRedis,
  startS3,
  tempDir,
  type AppHandle,
  type RedisHandle,
  type S3Handle,
} from '#libs/testing';

/**
 * Every app boots against real Redis and S3, answers its health and metrics endpoints, and exits 0 on
 * SIGTERM with every connection closed. Needs `npm run build` (npm test does it).
 */
const APPS = [
  { name: 'jobs-subgraph', portVar: 'JOBS_SUBGRAPH_PORT' },
  { name: 'artifacts-subgraph', portVar: 'ARTIFACTS_SUBGRAPH_PORT' },
  { name: 'gpu-worker', portVar: 'WORKER_HEALTH_PORT' },
  { name: 'gateway', portVar: 'GATEWAY_PORT' },
] as const;

describe('the four apps boot, report health and stop cleanly', () => {
  let redis: RedisHandle;
  let s3: S3Handle;
  const apps = new Map<string, AppHandle>();

  beforeAll(async () => {
    redis = await startRedis();
    s3 = await startS3();
    const ports: Record<string, string> = {};
    for (const a of APPS) ports[a.portVar] = String(await freePort());
    const env = {
      ...ports,
      ...s3.env,
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: tempDir('data'),
      JOBS_SUBGRAPH_URL: `http://127.0.0.1:${ports.JOBS_SUBGRAPH_PORT}/graphql`,
      ARTIFACTS_SUBGRAPH_URL: `http://127.0.0.1:${ports.ARTIFACTS_SUBGRAPH_PORT}/graphql`,
      WORKER_CPU_ACTORS: '1',
    };
    for (const a of APPS) {
      const app = await startApp(`dist/apps/${a.name}/src/main.js`, env, Number(ports[a.portVar]));
      apps.set(a.name, app);
      await app.waitReady(60_000);
    }
  }, 180_000);

  afterAll(async () => {
    for (const app of [...apps.values()].reverse()) await app.stop();
    await s3?.stop();
    await redis?.stop();
  });

  it.each(APPS.map((a) => a.name))('%s answers /health/live, /health/ready and /metrics', async (name) => {
    const app = apps.get(name)!;
    const live = await fetch(`${app.url}/health/live`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${app.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { status: string }).status).toBe('ok');
    const metrics = await fetch(`${app.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(
      new RegExp(`switchyard_process_cpu_user_seconds_total\\{service="${name}"\\}`),
    );
  });

  it('readiness turns false when Redis goes away, and back after it returns', async () => {
    const app = apps.get('jobs-subgraph')!;
    await redis.kill('SIGKILL');
    try {
      const down = await fetch(`${app.url}/health/ready`);
      expect(down.status).toBe(503);
      const body = (await down.json()) as { error?: unknown; details?: unknown };
      expect(JSON.stringify(body.error ?? body.details)).toMatch(/redis/i);
      expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
    } finally {
      await redis.restart();
    }
    const deadline = Date.now() + 20_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await fetch(`${app.url}/health/ready`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
  }, 60_000);

  it.each(APPS.map((a) => a.name))(
    '%s exits 0 on SIGTERM',
    async (name) => {
      const app = apps.get(name)!;
      const code = await app.stop(20_000);
      apps.delete(name);
      expect({ name, code, logs: code === 0 ? '' : app.logs().slice(-3000) }).toEqual({
        name,
        code: 0,
        logs: '',
      });
    },
    60_000,
  );
});

describe('a bad environment stops an app with a message naming the variable', () => {
  it.each(APPS.map((a) => a.name))('%s', (name) => {
    const r = spawnSync(process.execPath, [`${REPO_ROOT}/dist/apps/${name}/src/main.js`], {
      env: { ...process.env, REDIS_URL: 'http://not-redis', NODE_ENV: 'staging' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(78);
    expect(r.stderr).toMatch(/REDIS_URL: expected a redis or rediss URL/);
    expect(r.stderr).toMatch(/NODE_ENV: expected development, production or test/);
  });
});
