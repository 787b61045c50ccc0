import { copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import { ApiKeyStore } from '#libs/auth';
import { BULLMQ_PREFIX, NODE_QUEUES } from '#libs/contracts';
import {
  freePort,
  REPO_ROOT,
  startApp,
  startRedis,
  tempDir,
  type AppHandle,
  type RedisHandle,
} from '#libs/testing';
import { startBrowser, type BrowserSession } from '../console/browser.js';

/**
 * The queue admin UI (bull-board at /admin/queues) in Debian's chromium, with what a hostile tenant can put in a
 * BullMQ job of the node queues: inputs, labels, error messages and log lines full of HTML. An operator who
 * opens the page must see that text as text (no element, script or request made from it), and a page of another
 * site must not be able to act with the operator's remembered credentials (CSRF).
 */
const IDENTITY_SECRET = 'gateway-admin-browser-e2e-identity-secret-0123456789';
const CPU = NODE_QUEUES.cpu;
const MARK = 'xss-probe';
// HTML in every shape a renderer could mishandle: an element with a handler, a script, closing tags.
const HOSTILE = `<img src="/${MARK}.png" id="${MARK}" onerror="window.__pwned=1"><script>window.__pwned=2</script></pre></textarea><svg onload="window.__pwned=3">`;

describe('queue admin UI in a browser, with hostile job data', () => {
  let redis: RedisHandle;
  let gateway: AppHandle;
  let keysRedis: Redis;
  let queueRedis: Redis;
  let queue: Queue;
  let worker: Worker;
  let workerRedis: Redis;
  let session: BrowserSession;
  let attacker: Server;
  let attackerOrigin: string;
  let admin: string;
  let origin: string;
  let failedId: string;
  const cspViolations: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const dataDir = tempDir('gateway-admin-browser-e2e');
    const supergraphPath = join(dataDir, 'supergraph.graphql');
    copyFileSync(join(REPO_ROOT, 'graphql/supergraph.graphql'), supergraphPath);
    const port = await freePort();
    gateway = await startApp(
      'dist/apps/gateway/src/main.js',
      {
        NODE_ENV: 'test',
        REDIS_URL: redis.url,
        SWITCHYARD_DATA_DIR: dataDir,
        SWITCHYARD_IDENTITY_SECRET: IDENTITY_SECRET,
        GATEWAY_PORT: String(port),
        SUPERGRAPH_PATH: supergraphPath,
        RATE_LIMIT_PER_MINUTE: '6000',
        SHUTDOWN_GRACE_MS: '8000',
      },
      port,
    );
    await gateway.waitReady(90_000);
    origin = new URL(gateway.url).origin;
    keysRedis = new Redis(redis.url);
    admin = (await new ApiKeyStore(keysRedis).create({ tenant: 'ops', scopes: ['admin'] })).key;

    // A job of a hostile tenant: HTML in its inputs and labels, then failed with HTML in the error, with an
    // HTML log line (what a task's code and a tenant's inputs control).
    queueRedis = new Redis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(CPU, { connection: queueRedis, prefix: BULLMQ_PREFIX });
    await queue.add(
      'test.echo',
      {
        tenant: 'evil',
        jobId: 'job-evil',
        nodeId: 'n',
        attempt: 1,
        inputs: { caption: HOSTILE },
        labels: { [HOSTILE]: HOSTILE },
      },
      { jobId: 'job-evil.n.1' },
    );
    workerRedis = new Redis(redis.url, { maxRetriesPerRequest: null });
    worker = new Worker(CPU, undefined, {
      connection: workerRedis,
      prefix: BULLMQ_PREFIX,
      autorun: false,
    });
    const job = (await worker.getNextJob('admin-browser-e2e'))!;
    await job.log(HOSTILE);
    await job.updateProgress({ message: HOSTILE });
    await job.moveToFailed(new Error(HOSTILE), 'admin-browser-e2e', false);
    failedId = job.id!;

    // Another site (another loopback port: another origin) whose page tries admin actions.
    attackerOrigin = `http://127.0.0.1:${await freePort()}`;
    attacker = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><title>other site</title><script>
        window.result = fetch(${JSON.stringify(`${origin}/admin/queues/api/queues/${CPU}/retry/failed`)},
          { method: 'PUT', credentials: 'include' })
          .then((r) => 'status ' + r.status, (e) => 'error ' + e.message);
      </script>`);
    });
    await new Promise<void>((resolve) =>
      attacker.listen(Number(new URL(attackerOrigin).port), '127.0.0.1', resolve),
    );

    session = await startBrowser(tempDir('gateway-admin-browser-shots'));
  }, 150_000);

  afterAll(async () => {
    await session?.close();
    await new Promise((resolve) => attacker?.close(resolve));
    await worker?.close();
    workerRedis?.disconnect();
    await queue?.close();
    queueRedis?.disconnect();
    keysRedis?.disconnect();
    await gateway?.stop();
    await redis?.stop();
  });

  const adminPage = async (): Promise<Page> => {
    const context = await session.browser.newContext({
      viewport: { width: 1366, height: 900 },
      httpCredentials: { username: 'ops', password: admin },
    });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on('dialog', (d) => void d.dismiss());
    return page;
  };

  it('shows hostile job data as text: no element, script or request comes from it', async () => {
    const page = await adminPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${origin}/admin/queues/queue/${CPU}?status=failed`);
    await page.getByText('Switchyard queues').first().waitFor({ timeout: 30_000 });
    await page.getByText(failedId).first().waitFor({ timeout: 30_000 });
    await session.shot(page, 'admin-hostile-failed');
    // every tab of the job card: each shows the hostile text, as text
    for (const tab of ['Error', 'Data', 'Progress', 'Logs']) {
      await page.getByText(tab, { exact: true }).first().click();
      await page.getByText('window.__pwned', { exact: false }).first().waitFor({ timeout: 10_000 });
      await session.shot(page, `admin-hostile-${tab.toLowerCase()}`);
    }
    expect(await page.locator(`#${MARK}`).count()).toBe(0);
    expect(await page.locator('svg[onload]').count()).toBe(0);
    expect(
      await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned),
    ).toBeUndefined();
    expect(requests.filter((u) => u.includes(MARK))).toEqual([]);
    // bull-board's own page works under the gateway's policy
    expect(cspViolations).toEqual([]);
    expect(session.offLoopback).toEqual([]);
  }, 90_000);

  it("another site's page cannot retry jobs with the operator's remembered credentials", async () => {
    const page = await adminPage();
    // the operator has the admin UI open: the browser remembers the Basic credentials for the origin
    await page.goto(`${origin}/admin/queues`);
    await page.getByText('Switchyard queues').first().waitFor({ timeout: 30_000 });
    await page.goto(attackerOrigin);
    const result = await page.evaluate(() => (globalThis as unknown as { result: Promise<string> }).result);
    await session.shot(page, 'admin-cross-site');
    expect(result).toMatch(/^error /); // the preflight is refused: no credentials, no CORS
    expect(await queue.getJobState(failedId)).toBe('failed');
  }, 60_000);
});
