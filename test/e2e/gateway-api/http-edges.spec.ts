import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { IDENTITY_HEADER, signIdentity } from '#libs/auth';
import { waitFor } from '#libs/testing';
import { IDENTITY_SECRET, startGatewayStack, type GatewayStack } from '../gateway-support/gateway-stack.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** One raw HTTP request (node:http: exact headers, chunked bodies, no client-side additions). */
function send(
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: string | Buffer; chunks?: string[] },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? 'POST', headers: o.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (o.chunks) for (const c of o.chunks) req.write(c);
    req.end(o.body);
  });
}

const QUERY = JSON.stringify({ query: '{ templates { name } }' });

/**
 * GraphQL over HTTP at its edges, on the gateway and on a subgraph called directly: the answers a client sees
 * for odd bodies, media types and encodings, and the headers and access-log line of every answer. Most GraphQL
 * POSTs are answered in front of express (bootstrapApp's `front`, libs/graphql-http) and the rest by express's
 * route: both must answer as express alone did.
 */
describe('GraphQL over HTTP at its edges', () => {
  let stack: GatewayStack;
  let key: string;
  let jobsUrl: string;
  const identity = () =>
    signIdentity({ tenant: 'edges', keyId: 'k', scopes: ['jobs:read', 'jobs:write'] }, IDENTITY_SECRET);

  beforeAll(async () => {
    stack = await startGatewayStack({
      gatewayEnv: { MAX_BODY_BYTES: '2000', CORS_ORIGINS: 'https://ui.example' },
    });
    key = (await stack.createKey('edges', ['jobs:read'])).key;
    jobsUrl = `${stack.env.JOBS_SUBGRAPH_URL}`;
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const auth = () => ({ authorization: `Bearer ${key}` });

  it('answers the same query alike whatever JSON media type, charset or encoding carries it', async () => {
    const variants: Array<{ headers: Record<string, string>; body: string | Buffer }> = [
      { headers: { 'content-type': 'application/json' }, body: QUERY },
      { headers: { 'content-type': 'application/json; charset=utf-8' }, body: QUERY },
      { headers: { 'content-type': 'Application/JSON; Charset="UTF-8"' }, body: QUERY },
      { headers: { 'content-type': 'application/graphql-response+json' }, body: QUERY },
      { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(QUERY) },
      { headers: { 'content-type': 'application/json' }, body: `\ufeff \n${QUERY}` },
    ];
    for (const v of variants) {
      const r = await send(stack.url, { headers: { ...auth(), ...v.headers }, body: v.body });
      expect({ variant: v.headers, status: r.status, json: r.json }).toEqual({
        variant: v.headers,
        status: 200,
        json: { data: { templates: expect.any(Array) } },
      });
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    }
    // a chunked body (no Content-Length)
    const chunked = await send(stack.url, {
      headers: { ...auth(), 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: [QUERY.slice(0, 10), QUERY.slice(10)],
    });
    expect(chunked.status).toBe(200);
    expect(chunked.json.data.templates.length).toBeGreaterThan(0);
  });

  it('sends a request id (the caller’s when valid), no X-Powered-By, and logs one access line per request', async () => {
    const given = `edges-${Date.now()}`;
    const r = await send(stack.url, {
      headers: { ...auth(), 'content-type': 'application/json', 'x-request-id': given },
      body: QUERY,
    });
    expect(r.status).toBe(200);
    expect(r.headers['x-request-id']).toBe(given);
    expect(r.headers['x-powered-by']).toBeUndefined();
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.text)));
    const line = await waitFor(
      () =>
        stack.gateway
          .logs()
          .split('\n')
          .find((l) => l.includes(given)),
      { what: 'the access line' },
    );
    expect(JSON.parse(line)).toMatchObject({
      msg: 'request completed',
      req: { id: given, method: 'POST', url: '/graphql' },
      res: { statusCode: 200 },
    });
    const other = await send(stack.url, {
      headers: { ...auth(), 'content-type': 'application/json' },
      body: QUERY,
    });
    expect(other.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(other.headers['x-powered-by']).toBeUndefined();
  });

  it('answers CORS for an allowed origin on a POST and on its preflight', async () => {
    const post = await send(stack.url, {
      headers: { ...auth(), 'content-type': 'application/json', origin: 'https://ui.example' },
      body: QUERY,
    });
    expect(post.status).toBe(200);
    expect(post.headers['access-control-allow-origin']).toBe('https://ui.example');
    expect(post.headers.vary).toMatch(/Origin/);
    const other = await send(stack.url, {
      headers: { ...auth(), 'content-type': 'application/json', origin: 'https://evil.example' },
      body: QUERY,
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await send(stack.url, { method: 'OPTIONS', headers: { origin: 'https://ui.example' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-methods']).toBe('GET, POST, OPTIONS');
  });

  it('checks the key before it reads the body, and refuses bad bodies with typed errors', async () => {
    const noKey = await send(stack.url, { headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(noKey.status).toBe(401);
    expect(noKey.json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const cases: Array<{ what: string; body?: string; chunks?: string[]; status: number; message: RegExp }> =
      [
        { what: 'invalid JSON', body: '{"query": ', status: 400, message: /not valid JSON/ },
        { what: 'not an object', body: '"{ templates { name } }"', status: 400, message: /not valid JSON/ },
        { what: 'whitespace only', body: ' \n', status: 400, message: /not valid JSON/ },
        {
          what: 'too large',
          body: `{"query": "${'x'.repeat(3000)}"}`,
          status: 413,
          message: /larger than 2000/,
        },
        {
          what: 'too large, chunked',
          chunks: ['{"query": "', 'x'.repeat(1500), 'x'.repeat(1500), '"}'],
          status: 413,
          message: /larger than 2000/,
        },
        // express.json reads an empty body as {}: Apollo's own answer
        { what: 'empty', body: '', status: 400, message: /^POST body missing/ },
      ];
    for (const c of cases) {
      const r = await send(stack.url, {
        headers: {
          ...auth(),
          'content-type': 'application/json',
          ...(c.chunks ? { 'transfer-encoding': 'chunked' } : {}),
        },
        body: c.body,
        chunks: c.chunks,
      });
      expect({ what: c.what, status: r.status }).toEqual({ what: c.what, status: c.status });
      expect(r.json.errors[0].message).toMatch(c.message);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    }
    // the connection is still usable after a refused body (read off, keep-alive)
    const after = await send(stack.url, {
      headers: { ...auth(), 'content-type': 'application/json' },
      body: QUERY,
    });
    expect(after.status).toBe(200);
  });

  it('a subgraph called directly answers bad bodies as before (Nest’s error body), good ones with no-store', async () => {
    const headers = { 'content-type': 'application/json', [IDENTITY_HEADER]: identity() };
    const ok = await send(jobsUrl, { headers, body: QUERY });
    expect(ok.status).toBe(200);
    expect(ok.json.data.templates.length).toBeGreaterThan(0);
    expect(ok.headers['cache-control']).toBe('no-store');
    expect(ok.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(ok.headers['x-powered-by']).toBeUndefined();
    const invalid = await send(jobsUrl, { headers, body: '{"query": ' });
    expect({ status: invalid.status, json: invalid.json }).toEqual({
      status: 400,
      json: { statusCode: 400, error: 'Bad Request', message: expect.stringMatching(/JSON/) },
    });
    const strict = await send(jobsUrl, { headers, body: '  "x"' });
    expect({ status: strict.status, json: strict.json }).toEqual({
      status: 400,
      json: {
        statusCode: 400,
        error: 'Bad Request',
        message: `Unexpected token '"', "  "x"" is not valid JSON`,
      },
    });
    const large = await send(jobsUrl, { headers, body: `{"query": "${'x'.repeat(1024 * 1024)}"}` });
    expect({ status: large.status, json: large.json }).toEqual({
      status: 413,
      json: { statusCode: 413, message: 'request entity too large' },
    });
    const empty = await send(jobsUrl, { headers, body: '' });
    expect(empty.status).toBe(400);
    expect(empty.json.errors[0].message).toMatch(/^POST body missing/);
  });
});
