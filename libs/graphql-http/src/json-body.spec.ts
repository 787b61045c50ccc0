import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { boundedBodyParser, isPlainJsonPost, jsonBody } from './json-body.js';
import type { Step } from './http-steps.js';

const LIMIT = 1000;
/** A body in one piece (Content-Length), or in chunks (Transfer-Encoding: chunked). */
type Body = string | Buffer | Array<string | Buffer>;
const SPLIT = Buffer.from('{"a":"é"}');

/** A server whose one step reads the body, answering what it read or the error it raised (its fields). */
async function serve(step: Step): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void step(req, res, (err?: unknown) => {
      const e = err as (Error & Record<string, unknown>) | undefined;
      const body = e
        ? {
            error: {
              syntax: e instanceof SyntaxError,
              message: e.message,
              status: e.status,
              statusCode: e.statusCode,
              expose: e.expose,
              type: e.type,
              limit: e.limit,
            },
          }
        : { body: (req as { body?: unknown }).body, hasBody: 'body' in req };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function send(url: string, body: Body, contentType = 'application/json'): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunked = Array.isArray(body);
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': contentType, ...(chunked ? { 'transfer-encoding': 'chunked' } : {}) },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(parts).toString('utf8'))));
      },
    );
    req.on('error', reject);
    if (chunked) for (const c of body) req.write(c);
    req.end(chunked ? undefined : body);
  });
}

describe('jsonBody reads what express.json reads', () => {
  let ours: Awaited<ReturnType<typeof serve>>;
  let theirs: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    ours = await serve(jsonBody(LIMIT));
    theirs = await serve(express.json({ limit: LIMIT }) as unknown as Step);
  });
  afterAll(async () => {
    await ours.close();
    await theirs.close();
  });

  const bodies: Array<[string, Body]> = [
    ['an object', '{"query":"{ a }","variables":{"x":[1,2,"é"]}}'],
    ['an array', '[{"query":"{ a }"}]'],
    ['leading whitespace', ' \t\r\n{"a":1}'],
    ['a byte order mark', '\ufeff{"a":1}'],
    ['empty', ''],
    ['whitespace only', '   '],
    ['a string', '"x"'],
    ['a number after whitespace', '  12'],
    ['null', 'null'],
    ['truncated', '{"a":'],
    ['trailing garbage', '{"a":1} x'],
    ['over the limit (Content-Length)', `{"a":"${'x'.repeat(LIMIT)}"}`],
    ['at the limit', `{"a":"${'x'.repeat(LIMIT - 8)}"}`],
    ['chunked', ['{"a"', ':', '1}']],
    ['chunked, over the limit', ['{"a":"', 'x'.repeat(600), 'x'.repeat(600), '"}']],
    ['a character split across chunks', [SPLIT.subarray(0, 7), SPLIT.subarray(7)]],
  ];

  it.each(bodies)('%s', async (_what, body) => {
    const [a, b] = [await send(ours.url, body), await send(theirs.url, body)];
    expect(a).toEqual(b);
  });

  it('is used only for POSTs of the path with an uncompressed UTF-8 JSON body', () => {
    const req = (method: string, url: string, headers: Record<string, string>) =>
      ({ method, url, headers }) as unknown as IncomingMessage;
    const json = { 'content-type': 'application/json', 'content-length': '2' };
    expect(isPlainJsonPost(req('POST', '/graphql', json), '/graphql')).toBe(true);
    expect(isPlainJsonPost(req('POST', '/graphql?x=1', json), '/graphql')).toBe(true);
    expect(
      isPlainJsonPost(
        req('POST', '/graphql', {
          'content-type': 'application/json; charset=UTF-8',
          'transfer-encoding': 'chunked',
        }),
        '/graphql',
      ),
    ).toBe(true);
    expect(
      isPlainJsonPost(req('POST', '/graphql', { ...json, 'content-encoding': 'identity' }), '/graphql'),
    ).toBe(true);
    // left to express
    for (const [method, url, headers] of [
      ['GET', '/graphql', json],
      ['POST', '/graphql/', json],
      ['POST', '/graphqlx', json],
      ['POST', '/GRAPHQL', json],
      ['POST', '/graphql', { 'content-type': 'application/json' }],
      ['POST', '/graphql', { ...json, 'content-encoding': 'gzip' }],
      ['POST', '/graphql', { ...json, 'content-type': 'application/json; charset=utf-16' }],
      ['POST', '/graphql', { ...json, 'content-type': 'application/graphql-response+json' }],
      ['POST', '/graphql', { ...json, 'content-type': 'text/plain' }],
      ['POST', '/graphql', { 'content-length': '2' }],
    ] as const)
      expect({ method, url, headers, lane: isPlainJsonPost(req(method, url, headers), '/graphql') }).toEqual({
        method,
        url,
        headers,
        lane: false,
      });
  });
});

/**
 * A body refused for its size is not read off: the refusal goes on at once, says `Connection: close`, and the
 * server closes the connection after it while the client is still sending. body-parser reads all of it first
 * (here 50 MB declared), so a refused request could make the server read any amount.
 */
/** One chunk of a chunked body, framed. */
const chunk = (data: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);

describe('a body over the limit is refused without reading it off', () => {
  const servers: Array<Awaited<ReturnType<typeof serve>>> = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  /** Sends the head and `first`, then 16 KiB (a chunk when chunked) every 10 ms for up to 3 s; what came back. */
  function refuse(url: string, headers: Record<string, string>, first: Buffer) {
    const chunked = headers['transfer-encoding'] === 'chunked';
    const piece = Buffer.alloc(16 * 1024, 'x');
    const more = chunked ? Buffer.from(`4000\r\n${piece.toString('latin1')}\r\n`, 'latin1') : piece;
    const { port } = new URL(url);
    return new Promise<{ text: string; answeredMs?: number; closedMs?: number }>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1');
      const started = Date.now();
      const got: { text: string; answeredMs?: number; closedMs?: number } = { text: '' };
      const timer = setInterval(() => {
        if (got.closedMs === undefined) socket.write(more, () => undefined);
      }, 10);
      const stop = setTimeout(() => socket.destroy(), 3000);
      socket.on('data', (d: Buffer) => {
        got.answeredMs ??= Date.now() - started;
        got.text += d.toString('latin1');
      });
      const closed = () => (got.closedMs ??= Date.now() - started);
      socket.on('end', closed);
      socket.on('error', closed);
      socket.on('close', () => {
        clearInterval(timer);
        clearTimeout(stop);
        resolve(got);
      });
      const fields = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
      socket.write(`POST /graphql HTTP/1.1\r\nHost: x\r\n${fields.join('')}\r\n`);
      socket.write(first);
    });
  }

  const cases: Array<[string, () => Step, Record<string, string>, Buffer]> = [
    [
      'jsonBody, Content-Length over the limit',
      () => jsonBody(LIMIT),
      { 'content-type': 'application/json', 'content-length': '50000000' },
      Buffer.alloc(64 * 1024, 'x'),
    ],
    [
      'jsonBody, chunked past the limit',
      () => jsonBody(LIMIT),
      { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      Buffer.from(`${(2 * LIMIT).toString(16)}\r\n${'x'.repeat(2 * LIMIT)}\r\n`),
    ],
    [
      'express.json behind boundedBodyParser, Content-Length over the limit',
      () =>
        boundedBodyParser(express.json({ limit: LIMIT }) as unknown as Step, LIMIT, (req) =>
          /^application\/json/.test(req.headers['content-type'] ?? ''),
        ),
      { 'content-type': 'application/json', 'content-length': '50000000' },
      Buffer.alloc(64 * 1024, 'x'),
    ],
    [
      'express.json behind boundedBodyParser, chunked past the limit',
      () =>
        boundedBodyParser(express.json({ limit: LIMIT }) as unknown as Step, LIMIT, (req) =>
          /^application\/json/.test(req.headers['content-type'] ?? ''),
        ),
      { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      Buffer.from(`${(2 * LIMIT).toString(16)}\r\n${'x'.repeat(2 * LIMIT)}\r\n`),
    ],
    [
      // one the limit refuses only once inflated: body-parser would read the rest off for as long as it comes
      'express.json behind boundedBodyParser, gzip chunked, inflating past the limit',
      () =>
        boundedBodyParser(express.json({ limit: LIMIT }) as unknown as Step, LIMIT, (req) =>
          /^application\/json/.test(req.headers['content-type'] ?? ''),
        ),
      { 'content-type': 'application/json', 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' },
      chunk(gzipSync(`{"a":"${'x'.repeat(4 * LIMIT)}"}`)),
    ],
  ];

  it('still reads a compressed body within the limit, with or without a Content-Length', async () => {
    const server = await serve(
      boundedBodyParser(express.json({ limit: LIMIT }) as unknown as Step, LIMIT, (req) =>
        /^application\/json/.test(req.headers['content-type'] ?? ''),
      ),
    );
    servers.push(server);
    // inflates to 900 bytes: within the limit, as its 30-odd bytes on the wire are
    const gz = gzipSync(`{"a":"${'x'.repeat(LIMIT - 100)}"}`);
    for (const chunked of [false, true]) {
      const answer = await new Promise<unknown>((resolve, reject) => {
        const req = request(
          server.url,
          {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'content-encoding': 'gzip',
              ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(gz.length) }),
            },
          },
          (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve(JSON.parse(Buffer.concat(parts).toString('utf8'))));
          },
        );
        req.on('error', reject);
        req.end(gz);
      });
      expect(answer).toEqual({ body: { a: 'x'.repeat(LIMIT - 100) }, hasBody: true });
    }
  });

  it.each(cases)('%s', async (_what, step, headers, first) => {
    const server = await serve(step());
    servers.push(server);
    const r = await refuse(server.url, headers, first);
    expect(r.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/); // serve() answers the error it was given
    expect(r.text).toMatch(/\r\nConnection: close\r\n/);
    expect(r.text).toMatch(/"type":"entity.too.large"/);
    expect(r.closedMs).toBeLessThan(r.answeredMs! + 1000);
  });
});
