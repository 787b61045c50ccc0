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

/**
 * Review finding (s15): nothing of ours checks Redis' maxmemory-policy. Under an evicting policy (allkeys-lru, or
 * volatile-lru, the default of some managed Redis) a full Redis drops job hashes, event logs, artifact records,
 * cancel markers... silently. The only trace today is BullMQ's unstructured console.warn ("IMPORTANT! Eviction
 * policy is …"), printed by the apps that open a BullMQ queue (not the artifacts subgraph), with readiness green
 * and no metric. Wanted: the app says so itself at start, naming the setting (or refuses to start).
 */
const APPS = [
  ['artifacts-subgraph', 'ARTIFACTS_SUBGRAPH_PORT'],
  ['jobs-subgraph', 'JOBS_SUBGRAPH_PORT'],
] as const;

describe('Redis with an evicting maxmemory-policy', () => {
  let redis: RedisHandle;
  let s3: S3Handle;
  const apps: AppHandle[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    s3 = await startS3();
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    } finally {
      admin.disconnect();
    }
  });

  afterAll(async () => {
    for (const a of apps) await a.stop();
    await s3?.stop();
    await redis?.stop();
  });

  it.each(APPS)(
    '%s names the policy at start (a log line of its own, or a refusal)',
    async (app, portVar) => {
      const port = await freePort();
      const handle = await startApp(
        `dist/apps/${app}/src/main.js`,
        { ...s3.env, REDIS_URL: redis.url, [portVar]: String(port), NODE_ENV: 'test' },
        port,
      );
      apps.push(handle);
      await waitFor(
        () =>
          /maxmemory[-_ ]policy[^\n]*allkeys-lru|allkeys-lru[^\n]*maxmemory[-_ ]policy/i.test(handle.logs()),
        {
          timeoutMs: 20_000,
          what: `${app} to name Redis' maxmemory-policy allkeys-lru`,
          logs: () => handle.logs(),
        },
      );
    },
    60_000,
  );
});
