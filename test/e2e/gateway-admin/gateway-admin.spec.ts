import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { ApiKeyStore } from '#libs/auth';
import { BULLMQ_PREFIX, NODE_QUEUES, type Scope } from '#libs/contracts';
import {
  freePort,
  REPO_ROOT,
  startApp,
  startRedis,
  tempDir,
  type AppHandle,
  type RedisHandle,
} from '#libs/testing';

/**
 * The queue admin UI (bull-board) served by the built gateway at /admin/queues, over a real redis-server:
 * who gets in (HTTP Basic with an admin key as password), what it shows (the node queues, a job enqueued
 * straight with BullMQ), which actions pass, that its assets come from node_modules, and that production
 * leaves it off unless asked.
 */
const IDENTITY_SECRET = 'gateway-admin-e2e-identity-secret-0123456789abcdef';
const CPU = NODE_QUEUES.cpu;
const BURST = 60;

const basic = (key: string, user = 'ops') => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;

describe('gateway admin UI (bull-board at /admin/queues)', () => {
  let redis: RedisHandle;
  let gateway: AppHandle;
  let env: Record<string, string>;
  let keysRedis: Redis;
  let queueRedis: Redis;
  let queue: Queue;
  let admin: string;
  let reader: string;
  let base: string;

  const createKey = async (tenant: string, scopes: Scope[]) =>
    (await new ApiKeyStore(keysRedis).create({ tenant, scopes })).key;

  const get = (path: string, authorization?: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { headers: { ...headers, ...(authorization ? { authorization } : {}) } });

  const put = (path: string, authorization: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'PUT', headers: { ...headers, authorization } });

  /** bull-board's own listing, as its UI asks for it. */
  const listing = async (authorization: string, status = 'latest') => {
    const r = await get(
      `/admin/queues/api/queues?activeQueue=${CPU}&status=${status}&page=1&jobsPerPage=50`,
      authorization,
    );
    expect(r.status).toBe(200);
    const body = (await r.json()) as {
      queues: Array<{
        name: string;
        counts: Record<string, number>;
        jobs: Array<{ id: string; data: unknown }>;
      }>;
    };
    return body.queues;
  };
  const cpuQueue = async (authorization: string, status?: string) =>
    (await listing(authorization, status)).find((q) => q.name === CPU)!;

  beforeAll(async () => {
    redis = await startRedis();
    const dataDir = tempDir('gateway-admin-e2e');
    const supergraphPath = join(dataDir, 'supergraph.graphql');
    copyFileSync(join(REPO_ROOT, 'graphql/supergraph.graphql'), supergraphPath);
    const port = await freePort();
    env = {
      NODE_ENV: 'test',
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_IDENTITY_SECRET: IDENTITY_SECRET,
      GATEWAY_PORT: String(port),
      SUPERGRAPH_PATH: supergraphPath,
      RATE_LIMIT_PER_MINUTE: '60',
      RATE_LIMIT_BURST: String(BURST),
      SHUTDOWN_GRACE_MS: '8000',
    };
    gateway = await startApp('dist/apps/gateway/src/main.js', env, port);
    await gateway.waitReady(90_000);
    base = gateway.url;
    keysRedis = new Redis(redis.url);
    admin = await createKey('ops', ['admin']);
    reader = await createKey('acme', ['jobs:read', 'jobs:write']);
    queueRedis = new Redis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(CPU, { connection: queueRedis, prefix: BULLMQ_PREFIX });
    await queue.add('test.sleep', { jobId: 'job-1', nodeId: 'n', attempt: 1 }, { jobId: 'job-1.n.1' });
  }, 120_000);

  afterAll(async () => {
    await queue?.close();
    queueRedis?.disconnect();
    keysRedis?.disconnect();
    const code = await gateway?.stop();
    await redis?.stop();
    // The admin board's queues and connection close with the gateway: a clean exit, not the grace timeout.
    expect(code).toBe(0);
  });

  describe('who gets in', () => {
    it('no credentials → 401 with the Basic challenge, for the page and the API', async () => {
      for (const path of [
        '/admin/queues',
        '/admin/queues/api/queues',
        '/admin/queues/static/favicon-32x32.png',
      ]) {
        const r = await get(path);
        expect([path, r.status]).toEqual([path, 401]);
        expect(r.headers.get('www-authenticate')).toBe('Basic realm="switchyard admin"');
      }
    });

    it('an unknown or malformed key → 401', async () => {
      for (const key of [`sy_${'0'.repeat(16)}_${'1'.repeat(64)}`, 'not-a-key']) {
        const r = await get('/admin/queues', basic(key));
        expect(r.status).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Basic realm="switchyard admin"');
      }
      const revoked = await new ApiKeyStore(keysRedis).create({ tenant: 'ops', scopes: ['admin'] });
      await new ApiKeyStore(keysRedis).revoke(revoked.record.id);
      expect((await get('/admin/queues', basic(revoked.key))).status).toBe(401);
    });

    it('a key without the admin scope → 403, and no queue data', async () => {
      const r = await get('/admin/queues/api/queues', basic(reader));
      expect(r.status).toBe(403);
      expect(await r.text()).not.toContain(CPU);
      expect((await get('/admin/queues', basic(reader))).status).toBe(403);
    });

    it('an admin key as Basic password (any user name) or as Bearer token gets in', async () => {
      expect((await get('/admin/queues', basic(admin, 'whoever'))).status).toBe(200);
      expect((await get('/admin/queues/api/queues', `Bearer ${admin}`)).status).toBe(200);
    });

    it("admin requests spend the key's rate-limit tokens (429 + Retry-After)", async () => {
      const key = await createKey('ops', ['admin']);
      const statuses: number[] = [];
      for (let i = 0; i < BURST + 3; i++)
        statuses.push((await get('/admin/queues/api/queues', basic(key))).status);
      expect(statuses.slice(0, BURST - 2).every((s) => s === 200)).toBe(true);
      expect(statuses.at(-1)).toBe(429);
      const limited = await get('/admin/queues/api/queues', basic(key));
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      // The same key is limited on /graphql too: one bucket per key.
      const gql = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(gql.status).toBe(429);
    });
  });

  describe('what it shows', () => {
    it('serves the bull-board page under /admin/queues (not a Nest 404), with no CDN link', async () => {
      const r = await get('/admin/queues', basic(admin));
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/html/);
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      const html = await r.text();
      expect(html).toContain('<base href="/admin/queues/"');
      expect(html).toContain('<title>Switchyard queues</title>');
      expect(html).not.toMatch(/(?:href|src)=["']?(?:https?:)?\/\//i);
      // Deep links of the UI render the same page.
      expect((await get(`/admin/queues/queue/${CPU}`, basic(admin))).status).toBe(200);

      // Every script and stylesheet it references is served from node_modules by the gateway.
      const assets = [...html.matchAll(/(?:src|href)="(static\/[^"]+)"/g)].map((m) => m[1]!);
      expect(assets.some((a) => /\.js$/.test(a))).toBe(true);
      expect(assets.some((a) => /\.css$/.test(a))).toBe(true);
      for (const asset of assets) {
        const a = await get(`/admin/queues/${asset}`, basic(admin));
        expect([asset, a.status]).toEqual([asset, 200]);
        expect((await a.arrayBuffer()).byteLength).toBeGreaterThan(0);
      }
    });

    it("bull-board's API lists both node queues, sy-nodes-cpu with the job waiting", async () => {
      const queues = await listing(basic(admin));
      expect(queues.map((q) => q.name).sort()).toEqual(Object.values(NODE_QUEUES).sort());
      const cpu = queues.find((q) => q.name === CPU)!;
      expect(cpu.counts.waiting).toBe(1);
      expect(cpu.jobs).toEqual([
        expect.objectContaining({ id: 'job-1.n.1', data: { jobId: 'job-1', nodeId: 'n', attempt: 1 } }),
      ]);
      const job = await get(`/admin/queues/api/queues/${CPU}/job-1.n.1`, basic(admin));
      expect(job.status).toBe(200);
    });
  });

  describe('which actions pass', () => {
    it('refuses disabled actions (405) and changes nothing', async () => {
      for (const path of [
        `/admin/queues/api/queues/${CPU}/obliterate`,
        `/admin/queues/api/queues/${CPU}/empty`,
        `/admin/queues/api/queues/${CPU}/pause`,
        `/admin/queues/api/queues/${CPU}/clean/waiting`,
        `/admin/queues/api/queues/${CPU}/retry/completed`,
        `/admin/queues/api/queues/${CPU}/OBLITERATE`,
      ]) {
        const r = await put(path, basic(admin));
        expect([path, r.status]).toEqual([path, 405]);
      }
      const add = await fetch(`${base}/admin/queues/api/queues/${CPU}/add`, {
        method: 'POST',
        headers: { authorization: basic(admin), 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x', data: {}, options: {} }),
      });
      expect(add.status).toBe(405);
      // A waiting job is neither retried nor removed (the scheduler owns it).
      expect((await put(`/admin/queues/api/queues/${CPU}/job-1.n.1/clean`, basic(admin))).status).toBe(405);
      expect((await put(`/admin/queues/api/queues/${CPU}/job-1.n.1/retry`, basic(admin))).status).toBe(405);
      expect(await queue.isPaused()).toBe(false);
      expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
    });

    it('non-admins cannot act at all', async () => {
      expect((await put(`/admin/queues/api/queues/${CPU}/retry/failed`, basic(reader))).status).toBe(403);
    });

    it('refuses actions sent by another site’s page (CSRF) even with admin credentials', async () => {
      const crossSite = await put(`/admin/queues/api/queues/${CPU}/retry/failed`, basic(admin), {
        'sec-fetch-site': 'cross-site',
        origin: 'https://evil.example',
      });
      expect(crossSite.status).toBe(403);
      const otherOrigin = await put(`/admin/queues/api/queues/${CPU}/retry/failed`, basic(admin), {
        origin: 'https://evil.example',
      });
      expect(otherOrigin.status).toBe(403);
      const sameOrigin = await put(`/admin/queues/api/queues/${CPU}/retry/failed`, basic(admin), {
        'sec-fetch-site': 'same-origin',
        origin: base,
      });
      expect(sameOrigin.status).toBe(200);
    });

    it('retries failed jobs and cleans finished ones', async () => {
      await queue.add('test.sleep', { jobId: 'job-2', nodeId: 'n', attempt: 1 }, { jobId: 'job-2.n.1' });
      await queue.add('test.sleep', { jobId: 'job-3', nodeId: 'n', attempt: 1 }, { jobId: 'job-3.n.1' });
      // A worker driven by hand, so each job ends exactly as the test says.
      const workerRedis = new Redis(redis.url, { maxRetriesPerRequest: null });
      const worker = new Worker(CPU, undefined, {
        connection: workerRedis,
        prefix: BULLMQ_PREFIX,
        autorun: false,
      });
      const finish = async (how: 'complete' | 'fail') => {
        const job = (await worker.getNextJob('admin-e2e'))!;
        if (how === 'complete') await job.moveToCompleted('ok', 'admin-e2e', false);
        else await job.moveToFailed(new Error('boom'), 'admin-e2e', false);
        return job.id!;
      };
      try {
        const completed = await finish('complete');
        const completedAt = Date.now();
        const [failed2, failed3] = [await finish('fail'), await finish('fail')];
        expect((await cpuQueue(basic(admin))).counts).toMatchObject({ completed: 1, failed: 2 });

        // One failed job, then the rest.
        expect((await put(`/admin/queues/api/queues/${CPU}/${failed2}/retry`, basic(admin))).status).toBe(
          204,
        );
        expect(await queue.getJobState(failed2)).toBe('waiting');
        const all = await put(`/admin/queues/api/queues/${CPU}/retry/failed`, basic(admin));
        expect(all.status).toBe(200);
        expect(await all.json()).toEqual({ retried: 1, skipped: 0 });
        expect(await queue.getJobState(failed3)).toBe('waiting');
        expect(await queue.getJobCounts('waiting', 'failed')).toEqual({ waiting: 2, failed: 0 });

        // A completed job is not retried (it would run finished work again).
        expect((await put(`/admin/queues/api/queues/${CPU}/${completed}/retry`, basic(admin))).status).toBe(
          405,
        );
        expect(await queue.getJobState(completed)).toBe('completed');

        // Cleaning: completed ones in bulk (bull-board spares jobs finished in the last 5 s), a failed one by id.
        await new Promise((r) => setTimeout(r, Math.max(0, completedAt + 5_200 - Date.now())));
        expect((await put(`/admin/queues/api/queues/${CPU}/clean/completed`, basic(admin))).status).toBe(200);
        expect(await queue.getJobState(completed)).toBe('unknown');
        const failedAgain = await finish('fail');
        expect((await put(`/admin/queues/api/queues/${CPU}/${failedAgain}/clean`, basic(admin))).status).toBe(
          204,
        );
        expect(await queue.getJobState(failedAgain)).toBe('unknown');
      } finally {
        await worker.close();
        workerRedis.disconnect();
      }
    });
  });

  it('counts each outcome in /metrics', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const outcome of [
      'allowed',
      'unauthenticated',
      'forbidden',
      'rate_limited',
      'action_refused',
      'cross_site',
    ])
      expect(text).toMatch(
        new RegExp(`^switchyard_gateway_admin_requests_total\\{[^}]*outcome="${outcome}"[^}]*\\} [1-9]`, 'm'),
      );
  });

  it('is off in production unless ADMIN_UI_ENABLED is set', async () => {
    const port = await freePort();
    const production = await startApp(
      'dist/apps/gateway/src/main.js',
      { ...env, NODE_ENV: 'production', GATEWAY_PORT: String(port) },
      port,
    );
    try {
      await production.waitReady(90_000);
      const r = await fetch(`${production.url}/admin/queues`, { headers: { authorization: basic(admin) } });
      expect(r.status).toBe(404);
      expect(await r.text()).not.toContain(CPU);
    } finally {
      expect(await production.stop()).toBe(0);
    }
  }, 120_000);
});
