// Debian's chromium driven by playwright-core for the console tests: every request that would leave
// loopback is aborted and recorded (the test fails on any), and screenshots go to the test's temp dir and to
// CONSOLE_SHOTS_DIR (default /work/console-shots) for people to look at. What a page's Content-Security-Policy
// refuses is recorded too (cspViolations).
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface BrowserSession {
  browser: Browser;
  /** URLs that tried to leave loopback (aborted). */
  offLoopback: string[];
  /** Every request the pages made: method and URL. */
  requests: Array<{ method: string; url: string }>;
  /**
   * What the pages' Content-Security-Policy refused: each `securitypolicyviolation` event (directive and what
   * it blocked) and each "Refused to …" console error of the browser.
   */
  cspViolations: string[];
  newContext(): Promise<BrowserContext>;
  shot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function startBrowser(shotsDir: string): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install -y chromium`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container has no user namespaces for the sandbox; no GPU here either.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
  const offLoopback: string[] = [];
  const requests: Array<{ method: string; url: string }> = [];
  const cspViolations: string[] = [];
  const contexts: BrowserContext[] = [];
  const copyTo = process.env.CONSOLE_SHOTS_DIR ?? '/work/console-shots';
  mkdirSync(shotsDir, { recursive: true });
  return {
    browser,
    offLoopback,
    requests,
    cspViolations,
    async newContext() {
      const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
      contexts.push(context);
      await context.route('**/*', (route) => {
        const url = new URL(route.request().url());
        requests.push({ method: route.request().method(), url: url.href });
        if (url.protocol === 'data:' || url.protocol === 'blob:' || LOOPBACK.has(url.hostname))
          return route.continue();
        offLoopback.push(url.href);
        return route.abort('blockedbyclient');
      });
      context.on('page', (p) => {
        p.on('websocket', (ws) => {
          const url = new URL(ws.url());
          requests.push({ method: 'WS', url: url.href });
          if (!LOOPBACK.has(url.hostname)) offLoopback.push(url.href);
        });
        p.on('console', (m) => {
          if (m.type() === 'error' && /Content Security Policy/i.test(m.text()))
            cspViolations.push(`console: ${m.text()}`);
        });
      });
      // The binding and the init script are the browser's (CDP), so the page's CSP does not apply to them.
      await context.exposeBinding('__reportCspViolation', (_source, v: string) => void cspViolations.push(v));
      await context.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
        window.__reportCspViolation(e.effectiveDirective + ' blocked ' + (e.blockedURI || '(inline)') +
          ' on ' + e.documentURI + (e.sample ? ': ' + e.sample : '')))`);
      return context;
    },
    async shot(page, name) {
      const file = join(shotsDir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      try {
        mkdirSync(copyTo, { recursive: true });
        copyFileSync(file, join(copyTo, `${name}.png`));
      } catch {
        // the copy is a convenience for people; the test's own dir has the file
      }
      return file;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close().catch(() => undefined);
    },
  };
}
