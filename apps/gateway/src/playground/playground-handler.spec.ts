import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { tempDir } from '#libs/testing';
import { playgroundHandler } from './playground-handler.js';

describe('playground handler', () => {
  const dir = tempDir('playground-handler');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bundle.json'), '{}');
  writeFileSync(join(dir, 'playground.js'), 'console.log("graphiql")');
  const logger = { info: () => undefined, error: () => undefined };
  const app = express();
  app.set('etag', false);
  const handler = playgroundHandler({ graphqlPath: '/graphql', logger, dir });
  app.use('/playground', handler);
  app.use('/graphql', handler);
  app.use((_req, res) => void res.status(404).send('next'));

  // GraphiQL holds the caller's API key and runs mutations with it: a page of another site must not be able
  // to frame it and steer clicks (clickjacking), as the console and the admin UI already refuse.
  it.each([
    ['/playground', {}],
    ['/graphql', { accept: 'text/html' }],
  ])('serves %s so that no other site can frame it', async (path, headers) => {
    const res = await request(app).get(path).set(headers).expect(200);
    expect(res.text).toContain('/playground/assets/playground.js');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it('leaves the API itself alone', async () => {
    await request(app).get('/graphql').set('accept', 'application/json').expect(404, 'next');
    await request(app).post('/graphql').expect(404, 'next');
  });
});
