import express from 'express';
import { pino } from 'pino';
import request from 'supertest';
import { registry } from './metrics.js';
import { MAX_LOGGED_URL_LENGTH, requestLogging, type RequestLoggingOptions } from './request-logging.js';

/** An express app behind the access log, with the lines it writes (as parsed JSON). */
function appWithLog(level: string, options?: RequestLoggingOptions) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level, formatters: { level: (label) => ({ level: label }) } },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  const app = express();
  app.use(requestLogging(logger, options));
  const router = express.Router();
  router.get('/ok', (_req, res) => void res.send('ok'));
  router.get('/boom', (_req, res) => void res.status(500).send('no'));
  router.get('/status/:code', (req, res) => void res.status(Number(req.params.code)).send('refused'));
  app.use('/graphql', router);
  app.get('/health/live', (_req, res) => void res.send('up'));
  app.get('/metrics', (_req, res) => void res.status(401).send('admin only'));
  return { app, lines };
}

describe('requestLogging', () => {
  it('logs one line per request with the id, method, url as sent, status and time; echoes x-request-id', async () => {
    const { app, lines } = appWithLog('info');
    const res = await request(app).get('/graphql/ok').set('x-request-id', 'abc-1').expect(200);
    expect(res.headers['x-request-id']).toBe('abc-1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'request completed',
      req: { id: 'abc-1', method: 'GET', url: '/graphql/ok' },
      res: { statusCode: 200 },
    });
    expect(typeof lines[0]!.responseTime).toBe('number');
  });

  it('makes up an id when none (or a malformed one) is given, and does not log probes', async () => {
    const { app, lines } = appWithLog('info');
    const res = await request(app).get('/health/live').set('x-request-id', 'bad id!').expect(200);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(lines).toHaveLength(0);
  });

  it("with successLevel 'debug': answers below 400 only at debug, 4xx and 5xx still at info", async () => {
    const { app, lines } = appWithLog('info', { successLevel: 'debug' });
    await request(app).get('/graphql/ok').expect(200);
    await request(app).get('/graphql/missing').expect(404);
    await request(app).get('/graphql/boom').expect(500);
    expect(lines.map((l) => [l.level, l.msg, (l.res as { statusCode: number }).statusCode])).toEqual([
      ['info', 'request completed', 404],
      ['info', 'request errored', 500],
    ]);
    expect(lines[1]!.err).toMatchObject({ message: 'failed with status code 500' });

    const verbose = appWithLog('debug', { successLevel: 'debug' });
    await request(verbose.app).get('/graphql/ok').expect(200);
    expect(verbose.lines).toMatchObject([{ level: 'debug', msg: 'request completed' }]);
  });

  it('cuts a long url (a GET document, its variables) so one request cannot write a line of 16 KiB', async () => {
    const { app, lines } = appWithLog('info');
    const query = encodeURIComponent(`{${'a'.repeat(12_000)}}`);
    await request(app).get(`/graphql/missing?query=${query}`).expect(404);
    expect(lines).toHaveLength(1);
    const req = lines[0]!.req as { url: string; urlLength?: number };
    expect(req.url.length).toBeLessThanOrEqual(MAX_LOGGED_URL_LENGTH + 1);
    expect(req.url.startsWith('/graphql/missing?query=')).toBe(true);
    expect(req.urlLength).toBe(`/graphql/missing?query=${query}`.length);
    expect(JSON.stringify(lines[0]).length).toBeLessThan(2 * MAX_LOGGED_URL_LENGTH);
  });

  it('counts the refusals (401, 408, 413, 429) by reason in switchyard_http_requests_refused_total, probes too', async () => {
    const counted = async () => {
      const metric = await registry.getSingleMetric('switchyard_http_requests_refused_total')!.get();
      return Object.fromEntries(metric.values.map((v) => [v.labels.reason, v.value]));
    };
    const before = await counted();
    const { app, lines } = appWithLog('info');
    for (const code of [401, 401, 408, 413, 429, 403, 404, 500, 200])
      await request(app).get(`/graphql/status/${code}`).expect(code);
    await request(app).get('/metrics').expect(401);
    const after = await counted();
    const added = (reason: string) => (after[reason] ?? 0) - (before[reason] ?? 0);
    expect({
      unauthenticated: added('unauthenticated'),
      request_timeout: added('request_timeout'),
      body_too_large: added('body_too_large'),
      rate_limited: added('rate_limited'),
    }).toEqual({ unauthenticated: 3, request_timeout: 1, body_too_large: 1, rate_limited: 1 });
    expect(Object.keys(after).sort()).toEqual([
      'body_too_large',
      'rate_limited',
      'request_timeout',
      'unauthenticated',
    ]);
    // the refused scrape is counted, not logged
    expect(lines).toHaveLength(9);
  });
});
