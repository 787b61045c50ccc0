import { Redis } from 'ioredis';
import { ApiKeyStore } from '#libs/auth';
import { ALL_SCOPES } from '#libs/contracts';
import {
  freePort,
  startApp,
  startRedis,
  startS3,
  tempDir,
  waitFor,
  type AppHandle,
  type RedisHandle,
  type S3Handle,
} from '#libs/testing';
import { startWorker } from '../worker-support/start-worker.js';

const SECRET = 'hostile-tenants-identity-secret-0123456789abcdef';

/**
 * Issue 10's attack, through the gateway as a user would make it: tenant B submits 12 one-node jobs of
 * a task that blocks its runner, each with a 1 s timeout. Every attempt costs the CPU actor its runner.
 * The actor must not be quarantined for it: B's attempts fail (TIMEOUT), then B is throttled
 * (TENANT_THROTTLED, retryable, with the retry time), and tenant A's job still succeeds within a minute.
 */
describe('hostile tenants: one tenant killing runners does not take the actor away', () => {
  let redis: RedisHandle;
  let s3: S3Handle;
  const apps: AppHandle[] = [];
  let gatewayUrl: string;
  const keys: Record<'a' | 'b' | 'admin', string> = { a: '', b: '', admin: '' };

  const gql = async <T = any>(who: keyof typeof keys, query: string, variables?: object): Promise<T> => {
    const res = await fetch(`${gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[who]}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data as T;
  };
  const submit = async (who: 'a' | 'b', node: object): Promise<string> =>
    (
      await gql(who, `mutation($i: SubmitJobInput!) { submitJob(input: $i) { id } }`, {
        i: { graph: { nodes: [{ id: 'n', ...node }] } },
      })
    ).submitJob.id;
  const job = async (who: 'a' | 'b', id: string) =>
    (
      await gql(
        who,
        `query($id: ID!) { job(id: $id) { status nodes { status error { code message retryable } } } }`,
        {
          id,
        },
      )
    ).job;

  beforeAll(async () => {
    redis = await startRedis();
    s3 = await startS3();
    const [jobsPort, artifactsPort, gatewayPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const env = {
      ...s3.env,
      NODE_ENV: 'test',
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: tempDir('hostile-tenants'),
      JOBS_SUBGRAPH_PORT: String(jobsPort),
      ARTIFACTS_SUBGRAPH_PORT: String(artifactsPort),
      GATEWAY_PORT: String(gatewayPort),
      JOBS_SUBGRAPH_URL: `http://127.0.0.1:${jobsPort}/graphql`,
      ARTIFACTS_SUBGRAPH_URL: `http://127.0.0.1:${artifactsPort}/graphql`,
    };
    const withSecret = { ...env, SWITCHYARD_IDENTITY_SECRET: SECRET };
    for (const [app, port] of [
      ['jobs-subgraph', jobsPort],
      ['artifacts-subgraph', artifactsPort],
    ] as const) {
      const h = await startApp(`dist/apps/${app}/src/main.js`, withSecret, port);
      apps.push(h);
      await h.waitReady(90_000);
    }
    // One CPU actor and a restart intensity of 2: before issue 10, the third killed runner quarantined it.
    const worker = await startWorker('w-hostile', {
      ...env,
      WORKER_RESTART_INTENSITY: '2',
      WORKER_TENANT_KILL_THRESHOLD: '3',
      WORKER_TENANT_KILL_WINDOW_MS: '600000',
      WORKER_TENANT_THROTTLE_MS: '300000',
    });
    apps.push(worker);
    const gateway = await startApp('dist/apps/gateway/src/main.js', withSecret, gatewayPort);
    apps.push(gateway);
    await gateway.waitReady(90_000);
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const r = new Redis(redis.url);
    const store = new ApiKeyStore(r);
    keys.a = (await store.create({ tenant: 'tenant-a', scopes: [...ALL_SCOPES], name: 'a' })).key;
    keys.b = (await store.create({ tenant: 'tenant-b', scopes: [...ALL_SCOPES], name: 'b' })).key;
    keys.admin = keys.a;
    await r.quit();
  }, 240_000);

  afterAll(async () => {
    for (const a of apps.reverse()) await a.stop();
    await s3?.stop();
    await redis?.stop();
  });

  it("B's 12 runner-killing jobs get B throttled; A's job succeeds within a minute; the actor stays", async () => {
    const bJobs: string[] = [];
    for (let i = 0; i < 12; i++)
      bJobs.push(await submit('b', { task: 'test.busy', timeoutSeconds: 1, attempts: 1 }));
    const t0 = Date.now();
    const aJob = await submit('a', { task: 'test.sleep', inputs: { ms: 200 } });

    const done = await waitFor(
      async () => {
        const j = await job('a', aJob);
        return j.status === 'SUCCEEDED' || j.status === 'FAILED' ? j : null;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: "tenant A's job", logs: () => apps[2]!.logs() },
    );
    expect(done.status).toBe('SUCCEEDED');
    expect(Date.now() - t0).toBeLessThan(60_000);

    const bNodes = await waitFor(
      async () => {
        const all = await Promise.all(bJobs.map((id) => job('b', id)));
        return all.every((j) => j.status === 'FAILED') ? all.map((j) => j.nodes[0]) : null;
      },
      // 12 queries a poll: every 2 s stays under the gateway's rate limit (A's job no longer waits behind B's
      // window, decision 0005 "Taking back", so B's jobs are still running when this starts polling)
      { timeoutMs: 30_000, intervalMs: 2_000, what: "B's jobs to fail" },
    );
    const codes = bNodes.map((n: any) => n.error.code);
    expect(codes.filter((c: string) => c === 'TIMEOUT').length).toBeGreaterThanOrEqual(3);
    const throttled = bNodes.filter((n: any) => n.error.code === 'TENANT_THROTTLED');
    expect(throttled.length).toBeGreaterThanOrEqual(1);
    expect(codes.every((c: string) => c === 'TIMEOUT' || c === 'TENANT_THROTTLED')).toBe(true);
    expect(throttled[0].error).toMatchObject({
      retryable: true,
      message: expect.stringMatching(/throttled until \d{4}-\d\d-\d\dT[\d:.]+Z/),
    });

    // the actor was never quarantined, and workers { } says so
    const { workers } = await gql(
      'admin',
      `{ workers { id ready actors { id state restarts quarantineReason quarantinedUntil } } }`,
    );
    expect(workers).toHaveLength(1);
    expect(workers[0].ready).toBe(true);
    expect(workers[0].actors[0]).toMatchObject({ quarantineReason: null, quarantinedUntil: null });
    expect(workers[0].actors[0].state).not.toBe('QUARANTINED');
    expect(workers[0].actors[0].restarts).toBeGreaterThanOrEqual(3);

    // B is still throttled; A is not
    const again = await submit('b', { task: 'test.sleep', inputs: { ms: 10 } });
    const bAgain = await waitFor(async () => {
      const j = await job('b', again);
      return j.status === 'FAILED' || j.status === 'SUCCEEDED' ? j : null;
    });
    expect(bAgain.nodes[0].error.code).toBe('TENANT_THROTTLED');
    const aAgain = await submit('a', { task: 'test.sleep', inputs: { ms: 10 } });
    await waitFor(async () => ((await job('a', aAgain)).status === 'SUCCEEDED' ? true : null));
  }, 150_000);

  it('refuses hostile inputs and meaningless timeouts at validation', async () => {
    const validate = async (node: object) =>
      (
        await gql(
          'a',
          `query($i: SubmitJobInput!) { validateGraph(input: $i) { valid errors { code path } } }`,
          {
            i: { graph: { nodes: [{ id: 'n', ...node }] } },
          },
        )
      ).validateGraph;
    // 1x1 → 16384x16384: refused by image.resize's bounds before anything runs
    expect(
      await validate({ task: 'image.resize', inputs: { image: 'art_x', width: 16384, height: 16384 } }),
    ).toEqual({
      valid: false,
      errors: expect.arrayContaining([
        expect.objectContaining({ code: 'INVALID_INPUT', path: 'inputs.width' }),
      ]),
    });
    // model.train cannot do anything useful in 1 s
    expect(await validate({ task: 'model.train', inputs: { dataset: 'art_x' }, timeoutSeconds: 1 })).toEqual({
      valid: false,
      errors: [{ code: 'INVALID_INPUT', path: 'timeoutSeconds' }],
    });
    expect(await validate({ task: 'model.train', inputs: { dataset: 'art_x' }, timeoutSeconds: 60 })).toEqual(
      {
        valid: true,
        errors: [],
      },
    );
  });
});
