import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { tempDir } from '#libs/testing';
import { CONSOLE_PATH, consoleHandler } from './console-handler.js';

describe('console handler', () => {
  const dir = tempDir('console-handler');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bundle.json'), '{}');
  writeFileSync(join(dir, 'console.js'), 'console.log("app")');
  const logger = { info: () => undefined, error: () => undefined };
  const app = express();
  app.set('etag', false); // as bootstrapApp sets it: the handler sets its assets' ETag itself
  app.use(CONSOLE_PATH, consoleHandler({ logger, dir }));
  app.use((_req, res) => void res.status(404).send('next'));
  // The object store's public endpoint as the artifacts subgraph signs its URLs (S3_PUBLIC_ENDPOINT).
  const storageApp = express();
  storageApp.set('etag', false);
  storageApp.use(CONSOLE_PATH, consoleHandler({ logger, dir, storageOrigin: 'https://s3.example.com:8443' }));

  it.each(['/console', '/console/', '/console/jobs/abc-123', '/console/submit'])(
    'serves the app shell for %s (deep links survive a reload)',
    async (path) => {
      const res = await request(app).get(path).expect(200);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.text).toContain('<div id="console">');
      expect(res.text).toContain('/console/assets/console.js');
    },
  );

  it('serves bundled assets and nothing outside the bundle', async () => {
    const js = await request(app).get('/console/assets/console.js').expect(200);
    expect(js.headers['content-type']).toMatch(/text\/javascript/);
    await request(app).get('/console/assets/missing.js').expect(404);
    await request(app).get('/console/assets/..%2fbundle.json').expect(404);
    await request(app).get('/console/assets/a/b.js').expect(404);
  });

  it('revalidates a no-cache asset with its ETag (304), and a changed asset gets a new one', async () => {
    const first = await request(app).get('/console/assets/console.js').expect(200);
    expect(first.headers['cache-control']).toBe('no-cache');
    const tag = first.headers.etag as string;
    expect(tag).toMatch(/^"[\w-]+"$/);
    await request(app).get('/console/assets/console.js').set('if-none-match', tag).expect(304);
    writeFileSync(join(dir, 'console.js'), 'console.log("app v2")');
    const changed = await request(app)
      .get('/console/assets/console.js')
      .set('if-none-match', tag)
      .expect(200);
    expect(changed.text).toBe('console.log("app v2")');
    expect(changed.headers.etag).not.toBe(tag);
  });

  /** The directives of a Content-Security-Policy header, by name. */
  const csp = (header: unknown) =>
    new Map(
      String(header ?? '')
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .filter((d) => d[0])
        .map(([name, ...values]) => [name!, values] as const),
    );

  it.each([
    ['the app shell', '/console/jobs/abc', 200],
    ['a bundled asset', '/console/assets/console.js', 200],
    ['a missing asset', '/console/assets/missing.js', 404],
  ])('sends nosniff, no referrer, no framing and a strict CSP with %s', async (_what, path, status) => {
    const res = await request(storageApp).get(path).expect(status);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-frame-options']).toBe('DENY');
    const policy = csp(res.headers['content-security-policy']);
    expect(Object.fromEntries(policy)).toEqual({
      'default-src': ["'self'"],
      'script-src': ["'self'"], // no 'unsafe-inline', no 'unsafe-eval'
      'style-src': ["'self'"],
      'img-src': ["'self'", 'https://s3.example.com:8443'], // artifact previews: presigned GETs
      'connect-src': ["'self'", 'https://s3.example.com:8443'], // /graphql, its websocket, uploads, text previews
      'font-src': ["'self'"],
      'object-src': ["'none'"],
      'base-uri': ["'none'"],
      'form-action': ["'none'"],
      'frame-ancestors': ["'none'"],
    });
  });

  it('allows no other origin when given no storage origin', async () => {
    const res = await request(app).get('/console').expect(200);
    expect(csp(res.headers['content-security-policy']).get('connect-src')).toEqual(["'self'"]);
  });

  it('leaves other methods and paths alone', async () => {
    await request(app).post('/console').expect(404, 'next');
    await request(app).get('/consoles').expect(404, 'next');
  });
});
