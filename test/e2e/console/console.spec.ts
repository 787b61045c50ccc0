import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { ALL_SCOPES } from '#libs/contracts';
import { REPO_ROOT, tempDir } from '#libs/testing';
import {
  collect,
  gql,
  SLEEP_JOB,
  SLEEP_VARS,
  startGatewayStack,
  wsClient,
  type GatewayStack,
} from '../gateway-support/gateway-stack.js';
import { startBrowser, type BrowserSession } from './browser.js';

const MAX_UPLOAD = 200_000; // bytes: the artifacts subgraph's limit in this stack, so "too large" is cheap to make

/**
 * The console and the playground in a real browser (Debian's chromium) against the real stack: redis, s3rver,
 * both subgraphs, a worker with the test tasks and the built gateway, all on loopback.
 */
describe('console and playground in a browser', () => {
  let stack: GatewayStack;
  let session: BrowserSession;
  let context: BrowserContext;
  let page: Page;
  let key: string;
  let origin: string;
  const shots = join(tempDir('console-e2e'), 'screenshots');

  const signIn = async (p: Page) => {
    await p.goto(`${origin}/console`);
    await p.getByLabel('API key').fill(key);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { name: 'Jobs' }).waitFor();
  };
  const connection = (p: Page) => p.locator('.connection');
  const imageField = (p: Page) => p.locator('#root_image');
  /** Waits for an upload to finish; on failure says what the widget showed. */
  const uploaded = async (p: Page) => {
    try {
      await p.locator('.upload-done').waitFor({ timeout: 30_000 });
    } catch (e) {
      throw new Error(
        `upload did not finish: ${await p.locator('.upload-status').allTextContents()} ${browserLog.join('\n')}`,
        { cause: e },
      );
    }
  };
  const browserLog: string[] = [];

  beforeAll(async () => {
    stack = await startGatewayStack({
      worker: true,
      env: {
        ARTIFACT_MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
        WORKER_CPU_ACTORS: '2', // two sleep jobs at once in the restart test
        // tfjs training blocks the runner between epochs: the fast test timeouts would call it STUCK on a
        // loaded machine (seen: STUCK after 1.7 s, then a STORAGE_UNAVAILABLE on the new runner's first read).
        WORKER_HEARTBEAT_INTERVAL_MS: '1000',
        WORKER_HEARTBEAT_TIMEOUT_MS: '30000',
        WORKER_WATCHDOG_STALL_MS: '60000',
      },
    });
    origin = new URL(stack.url).origin;
    key = (await stack.createKey('console', [...ALL_SCOPES], 'console-e2e')).key;
    session = await startBrowser(shots);
    context = await session.newContext();
    page = await context.newPage();
    page.on('console', (m) => void browserLog.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => void browserLog.push(`pageerror: ${e.message}`));
  }, 240_000);

  afterAll(async () => {
    await session?.close();
    await stack?.stop();
  }, 120_000);

  afterEach(async () => {
    // What the main page showed at the end of each test, passed or not (a failure's first clue).
    const name = (expect.getState().currentTestName ?? 'test').replace(/[^a-z0-9]+/gi, '-').slice(-60);
    if (page && !page.isClosed()) await session.shot(page, `after-${name}`).catch(() => undefined);
    expect(session.offLoopback).toEqual([]);
    // The console works under its CSP: sign-in, uploads to the store, submit, live events, artifact previews.
    expect(session.cspViolations.splice(0)).toEqual([]);
  });

  it('every console response carries nosniff, no referrer, no framing and a strict CSP naming the store', async () => {
    const shell = await page.goto(`${origin}/console/jobs/some-id`);
    const bundle = await page.request.get(`${origin}/console/assets/console.js`);
    const css = await page.request.get(`${origin}/console/assets/console.css`);
    const storage = new URL(stack.env.S3_ENDPOINT!).origin;
    for (const headers of [shell!.headers(), bundle.headers(), css.headers()]) {
      expect(headers['x-content-type-options']).toBe('nosniff');
      expect(headers['referrer-policy']).toBe('no-referrer');
      expect(headers['x-frame-options']).toBe('DENY');
      const policy = headers['content-security-policy'] ?? '';
      expect(policy).toContain("script-src 'self';");
      expect(policy).toContain(`connect-src 'self' ${storage};`);
      expect(policy).toContain(`img-src 'self' ${storage};`);
      expect(policy).toContain("frame-ancestors 'none'");
      expect(policy).not.toMatch(/unsafe-(inline|eval)/);
    }
  }, 30_000);

  it('signs in with an API key kept in sessionStorage; a wrong key shows the API code', async () => {
    await page.goto(`${origin}/console`);
    await page.getByLabel('API key').fill('sy_nope_nope');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/UNAUTHENTICATED/);
    await session.shot(page, '01-sign-in-refused');
    await signIn(page);
    expect(await page.evaluate(`sessionStorage.getItem('switchyard.apiKey')`)).toBe(key);
    await connection(page).filter({ hasText: 'live' }).waitFor();
    await session.shot(page, '02-jobs-empty');
  }, 60_000);

  it('thumbnail: upload (sha256 in the browser), submit, the list and the job page update live, the thumbnail shows', async () => {
    const list = await context.newPage(); // a new tab: its own sessionStorage, so it signs in too
    await signIn(list);

    await page.goto(`${origin}/console/submit`);
    await page.getByLabel('Template').selectOption('thumbnail');
    const png = join(REPO_ROOT, 'data/sample.png');
    const sha = createHash('sha256').update(readFileSync(png)).digest('hex');
    await imageField(page).setInputFiles(png);
    await uploaded(page);
    expect(await page.locator('.upload-done code.sha256').textContent()).toBe(sha);
    await page.locator('#root_width').fill('32');
    await session.shot(page, '03-submit-thumbnail');
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/\/console\/jobs\/[^/]+$/);
    const jobId = decodeURIComponent(page.url().split('/').at(-1)!);

    await page.locator('.page-head .status', { hasText: 'SUCCEEDED' }).waitFor({ timeout: 60_000 });
    const img = page.locator('img.real-size');
    await img.waitFor();
    await expect(img.evaluate((i: any) => i.complete && [i.naturalWidth, i.naturalHeight])).resolves.toEqual([
      32, 21,
    ]);
    expect(await img.evaluate((i: any) => [i.width, i.height])).toEqual([32, 21]); // real size
    expect(await page.locator('[data-node-id="resize"]').getAttribute('class')).toContain('node-succeeded');
    await session.shot(page, '04-job-thumbnail-succeeded');

    // The other tab got the job from jobFeed, no reload, with the contract's status value.
    const row = list.locator(`tr[data-job-id="${jobId}"]`);
    await row.locator('.status', { hasText: 'SUCCEEDED' }).waitFor({ timeout: 15_000 });
    await session.shot(list, '05-jobs-live');
    await list.close();
  }, 120_000);

  it('train-and-evaluate: the DAG has its edge and the train node reports each epoch live', async () => {
    await page.goto(`${origin}/console/submit`);
    await page.getByLabel('Template').selectOption('train-and-evaluate');
    await page.locator('#root_dataset').setInputFiles(join(REPO_ROOT, 'data/blobs-3class.csv'));
    await uploaded(page);
    await page.locator('#root_epochs').fill('20');
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/\/console\/jobs\//);
    // Per-epoch progress while the node runs, not only at the end.
    await page
      .locator('[data-node-row="train"] .node-message', { hasText: /epoch \d+\/20/ })
      .waitFor({ timeout: 120_000 });
    await session.shot(page, '06-job-train-running');
    const finished = page.locator('.page-head .status', { hasText: /^(SUCCEEDED|FAILED|CANCELLED)$/ });
    await finished.waitFor({ timeout: 180_000 });
    await session.shot(page, '06-job-train-and-evaluate');
    const status = await finished.textContent();
    if (status !== 'SUCCEEDED')
      throw new Error(`job ${status}: ${await page.locator('.error-box').allTextContents()}`);
    const epochs = await page.locator('.events li[data-type="NODE_PROGRESS"]').allTextContents();
    const seen = new Set(epochs.map((t) => /epoch (\d+)\/20/.exec(t)?.[1]).filter(Boolean));
    expect(seen.size).toBeGreaterThanOrEqual(5); // progress coalescing may merge some, never all
    expect(await page.locator('.dag-edge').count()).toBe(1); // train → evaluate
    // The model's first lines, fetched from the store's presigned URL (the CSP's connect-src allows it).
    await page.locator('.text-preview').first().waitFor();
    expect(await page.locator('.text-preview').first().textContent()).toContain('switchyard.tfjs-classifier');
  }, 360_000);

  it('a gateway restart mid-job: reconnecting, then live again, every seq exactly once', async () => {
    const submitted = await gql(stack.url, key, SLEEP_JOB, SLEEP_VARS(12_000));
    const jobId = submitted.body.data.submitJob.id as string;
    await page.goto(`${origin}/console/jobs/${encodeURIComponent(jobId)}`);
    await page.locator('.events li').nth(2).waitFor({ timeout: 30_000 });
    await connection(page).filter({ hasText: 'live' }).waitFor();
    // A short job that finishes while the gateway is down: jobFeed has no cursor, so only the list's reload
    // after the reconnect can show its end.
    const list = await context.newPage();
    await signIn(list);
    const quick = (await gql(stack.url, key, SLEEP_JOB, SLEEP_VARS(3_000))).body.data.submitJob.id as string;
    const quickStatus = list.locator(`tr[data-job-id="${quick}"] .status`);
    await quickStatus.filter({ hasText: /QUEUED|RUNNING/ }).waitFor({ timeout: 15_000 });

    await stack.gateway.stop();
    expect(await quickStatus.textContent()).not.toBe('SUCCEEDED');
    await connection(page)
      .filter({ hasText: /reconnecting \(attempt \d+/ })
      .waitFor({ timeout: 15_000 });
    await session.shot(page, '07-reconnecting');
    await new Promise((r) => setTimeout(r, 4_000)); // the short job ends meanwhile
    await stack.restartGateway();
    await connection(page)
      .filter({ hasText: /resumed|live/ })
      .waitFor({ timeout: 30_000 });
    await page.locator('.page-head .status', { hasText: 'SUCCEEDED' }).waitFor({ timeout: 60_000 });
    await session.shot(page, '08-resumed-succeeded');
    await quickStatus.filter({ hasText: 'SUCCEEDED' }).waitFor({ timeout: 30_000 });
    await list.close();

    const shown = await page
      .locator('.events li')
      .evaluateAll((lis) => lis.map((li) => Number(li.getAttribute('data-seq'))));
    // The server's own record of the job's events, read from the start.
    const ws = wsClient(stack.wsUrl, key);
    const all = collect(ws, 'subscription($id: ID!) { jobEvents(jobId: $id) { seq type } }', { id: jobId });
    expect(await all.done).toBe('complete');
    await ws.dispose();
    const seqs = all.results.map((r) => r.data.jobEvents.seq as number);
    expect(shown).toEqual(seqs); // every seq once, in order, none missing
    expect(new Set(shown).size).toBe(shown.length);
    expect(await page.getByText(/repeated and dropped/).count()).toBe(0);
  }, 180_000);

  it('refuses a wrong-type or too-large file before any byte is uploaded', async () => {
    await page.goto(`${origin}/console/submit`);
    await page.getByLabel('Template').selectOption('thumbnail');
    await page.getByRole('button', { name: 'Submit job' }).click(); // nothing filled in
    await page.locator('.error-detail').first().waitFor(); // field-level errors from the paramsSchema
    expect(page.url()).toMatch(/\/console\/submit$/);
    // bytes go to the storage (a POST policy form or a PUT), never to the gateway's /graphql
    const uploads = () =>
      session.requests.filter((r) => ['PUT', 'POST'].includes(r.method) && !r.url.includes('/graphql'))
        .length;
    const before = uploads();
    const creates = session.requests.length;

    await imageField(page).setInputFiles({
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('not an image'),
    });
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/BAD_USER_INPUT.*text\/plain/);
    expect(session.requests.slice(creates).filter((r) => r.url.includes('/graphql'))).toEqual([]); // not even asked
    await session.shot(page, '09-upload-wrong-type');

    await imageField(page).setInputFiles({
      name: 'huge.png',
      mimeType: 'image/png',
      buffer: Buffer.alloc(MAX_UPLOAD + 1, 1),
    });
    await page
      .getByRole('alert')
      .filter({ hasText: 'exceeds the limit' })
      .waitFor()
      .catch(async (e) => {
        throw new Error(
          `${await page.locator('.upload-status').allTextContents()} ${browserLog.join('\n')}`,
          { cause: e },
        );
      });
    expect(await page.getByRole('alert').textContent()).toMatch(
      /BAD_USER_INPUT.*exceeds the limit of 200000 bytes/,
    );
    expect(uploads()).toBe(before);
    await session.shot(page, '10-upload-too-large');
  }, 60_000);

  it('cancel and retry from the job page, each after a confirmation; the event log follows the new run', async () => {
    const submitted = await gql(stack.url, key, SLEEP_JOB, SLEEP_VARS(60_000));
    const jobId = submitted.body.data.submitJob.id as string;
    await page.goto(`${origin}/console/jobs/${encodeURIComponent(jobId)}`);
    await page.locator('.page-head .status', { hasText: 'RUNNING' }).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Cancel job…' }).click();
    await page.getByRole('alertdialog').waitFor();
    await session.shot(page, '13-cancel-confirm');
    await page.getByRole('button', { name: 'Yes, cancel it' }).click();
    await page.locator('.page-head .status', { hasText: 'CANCELLED' }).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Retry job…' }).click();
    await page.getByRole('button', { name: 'Yes, retry it' }).click();
    await page.locator('.page-head .status', { hasText: /QUEUED|RUNNING/ }).waitFor({ timeout: 30_000 });
    const before = await page.locator('.events li').count();
    await page.locator(`.events li:nth-child(${before + 1})`).waitFor({ timeout: 30_000 }); // events of the retry
    await session.shot(page, '14-retried');
    const shown = await page
      .locator('.events li')
      .evaluateAll((lis) => lis.map((li) => Number(li.getAttribute('data-seq'))));
    expect(shown).toEqual(shown.map((_, i) => i + 1)); // contiguous across the cancel and the retry
    await gql(stack.url, key, 'mutation($id: ID!) { cancelJob(id: $id) { id } }', { id: jobId });
  }, 90_000);

  it('injected markup runs no script: inline handlers, inline script, javascript: links and eval are refused', async () => {
    // A link crafted by someone else: the id is shown as text (React), and no element comes of it.
    const hostile = `<img src=x onerror="window.__xss='id'">`;
    await page.goto(`${origin}/console`);
    await page.evaluate(`sessionStorage.setItem('switchyard.apiKey', ${JSON.stringify(key)})`); // signed in
    await page.goto(`${origin}/console/jobs/${encodeURIComponent(hostile)}`);
    await page.locator('.error-box').first().waitFor({ timeout: 15_000 });
    expect(await page.locator('#console img').count()).toBe(0);
    expect(session.cspViolations).toEqual([]);
    // An XSS slip, made by hand: tenant markup reaching the DOM as HTML. The CSP is the defence behind React.
    await page.evaluate(`(() => {
      document.body.insertAdjacentHTML(
        'beforeend',
        '<div id="slip"><img src="x" onerror="window.__xss=\\'attr\\'">' +
          '<a id="slip-link" href="javascript:void(window.__xss=\\'href\\')">open</a></div>',
      );
      const s = document.createElement('script');
      s.textContent = "window.__xss = 'inline'";
      document.body.append(s);
      setTimeout("window.__xss = 'timer-string'", 0);
    })()`);
    // (no waitForFunction with a string: Playwright evals it in the page, which this CSP refuses too)
    await page
      .locator('#slip img')
      .evaluate((i: any) => new Promise((r) => (i.complete ? r(0) : i.addEventListener('error', r))));
    await page.locator('#slip-link').click();
    await new Promise((r) => setTimeout(r, 500));
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    await session.shot(page, '16-injected-markup-inert');
    const refused = session.cspViolations.splice(0).join('\n');
    expect(refused).toMatch(/script-src-attr/); // the onerror handler
    expect(refused).toMatch(/script-src-elem/); // the inline <script>
    expect(refused).toMatch(/script-src blocked eval/); // setTimeout with a string
  }, 30_000);

  it('filters the list by template and status (the contract values)', async () => {
    await page.goto(`${origin}/console`);
    await page.locator('tr[data-job-id]').first().waitFor();
    await page.getByLabel('Template').selectOption('train-and-evaluate');
    await page.getByRole('checkbox', { name: 'SUCCEEDED' }).check();
    // Locators, not waitForFunction with a string: that evals in the page, which the console's CSP refuses.
    await page
      .locator('tr[data-job-id]')
      .filter({ hasNotText: 'train-and-evaluate' })
      .first()
      .waitFor({ state: 'detached' });
    await page.locator('tr[data-job-id]').first().waitFor();
    const rows = page.locator('tr[data-job-id]');
    for (const row of await rows.all()) {
      expect(await row.locator('td').nth(1).textContent()).toBe('train-and-evaluate');
      expect(await row.locator('.status').textContent()).toBe('SUCCEEDED');
    }
    await session.shot(page, '15-jobs-filtered');
  }, 30_000);

  it('sign-out clears the key; signing in again works from the keyboard', async () => {
    await page.goto(`${origin}/console`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(`sessionStorage.getItem('switchyard.apiKey')`)).toBeNull();
    await page.reload();
    await page.getByLabel('API key').waitFor(); // still signed out after a reload
    await page.getByLabel('API key').focus();
    await page.keyboard.type(key);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
  }, 30_000);

  it('the playground asks for the key, shows no error before it, then runs capabilities', async () => {
    const fresh = await session.newContext();
    const p = await fresh.newPage();
    const apiErrors: string[] = [];
    p.on('response', (r) => {
      if (r.url().endsWith('/graphql') && r.status() >= 400) apiErrors.push(`${r.status()} ${r.url()}`);
    });
    await p.goto(`${origin}/playground`);
    await p.getByLabel('API key').waitFor();
    expect(await p.getByText(/invalid API key|UNAUTHENTICATED/i).count()).toBe(0);
    expect(apiErrors).toEqual([]);
    await session.shot(p, '11-playground-key-prompt');
    await p.getByLabel('API key').fill(key);
    await p.getByRole('button', { name: 'Use this key' }).click();
    await p.locator('.graphiql-container').waitFor();
    await p.locator('.graphiql-execute-button').click();
    await p.locator('.result-window').filter({ hasText: 'image.resize' }).waitFor({ timeout: 30_000 });
    expect(await p.locator('.result-window').textContent()).toContain('"capabilities"');
    // The schema was fetched with the key: the docs list the root types.
    await p.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    await p.locator('.graphiql-doc-explorer').getByText('Subscription').first().waitFor({ timeout: 15_000 });
    expect(apiErrors).toEqual([]);
    await session.shot(p, '12-playground-capabilities');
    await fresh.close();
  }, 90_000);
});
