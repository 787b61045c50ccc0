/**
 * The artifacts subgraph's start-up as a real process (built JS): what it refuses, and how it waits for a
 * Redis that is not there yet. (Its uploads, and a clean stop: artifacts-uploads.spec.ts.)
 */
import {
  freePort,
  startApp,
  startRedis,
  startS3,
  waitFor,
  type RedisHandle,
  type S3Handle,
} from '#libs/testing';

const SECRET = 'e2e-identity-secret-0123456789-abcdefgh';
let s3: S3Handle;
let redisServer: RedisHandle;

beforeAll(async () => {
  [s3, redisServer] = await Promise.all([startS3({ bucket: 'e2e-artifacts' }), startRedis()]);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), redisServer?.stop()]);
});

describe('artifacts subgraph start-up', () => {
  it('refuses to start in production mode with default S3 credentials (exit 78, names the variables)', async () => {
    const port = await freePort();
    const prod = await startApp(
      'dist/apps/artifacts-subgraph/src/main.js',
      {
        ...s3.env,
        NODE_ENV: 'production',
        S3_ACCESS_KEY: 'minioadmin',
        S3_SECRET_KEY: 'minioadmin',
        REDIS_URL: redisServer.url,
        SWITCHYARD_IDENTITY_SECRET: SECRET,
        ARTIFACTS_SUBGRAPH_PORT: String(port),
      },
      port,
    );
    const code = await new Promise<number | null>((r) => prod.process.once('exit', (c) => r(c)));
    expect(code).toBe(78);
    expect(prod.logs()).toMatch(/S3_ACCESS_KEY\/S3_SECRET_KEY: default credentials/);
  });

  it('starts without Redis, reports not ready, and becomes ready once Redis comes up', async () => {
    const [appPort, redisPort] = [await freePort(), await freePort()];
    const late = await startApp(
      'dist/apps/artifacts-subgraph/src/main.js',
      {
        ...s3.env,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        SWITCHYARD_IDENTITY_SECRET: SECRET,
        ARTIFACTS_SUBGRAPH_PORT: String(appPort),
      },
      appPort,
    );
    let lateRedis: RedisHandle | undefined;
    try {
      const notReady = await waitFor(
        async () => {
          const res = await fetch(`${late.url}/health/ready`).catch(() => null);
          return res?.status === 503 ? ((await res.json()) as { error?: Record<string, unknown> }) : null;
        },
        { timeoutMs: 15_000, what: 'not ready without redis', logs: late.logs },
      );
      expect(notReady.error).toHaveProperty('redis');
      lateRedis = await startRedis({ port: redisPort });
      await late.waitReady(20_000);
    } finally {
      await late.stop();
      await lateRedis?.stop();
    }
  });
});
