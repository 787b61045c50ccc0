import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { apolloHttp } from './apollo-http.js';
import { runSteps, type ErrorStep, type Step, type StepRequest } from './http-steps.js';
import { jsonBody } from './json-body.js';

interface Ctx {
  who: string;
}

const typeDefs = `type Query { hello: String, who: String, fails: String }`;
const resolvers = {
  Query: {
    hello: () => 'world',
    who: (_: unknown, __: unknown, ctx: Ctx) => ctx.who,
    fails: () => {
      throw new Error('boom');
    },
  },
};

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, server };
}

function post(url: string, body: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; text: string }>(
    (resolve, reject) => {
      const req = request(
        url,
        { method: 'POST', headers: { 'content-type': 'application/json', 'x-who': 'alice', ...headers } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => {
            const { date: _date, connection: _c, 'keep-alive': _k, ...rest } = res.headers;
            resolve({ status: res.statusCode!, headers: rest, text: Buffer.concat(parts).toString('utf8') });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    },
  );
}

describe('apolloHttp answers as expressMiddleware does', () => {
  let apollo: ApolloServer<Ctx>;
  let ours: { url: string; server: Server };
  let theirs: { url: string; server: Server };
  const context = async (req: StepRequest): Promise<Ctx> => ({ who: String(req.headers['x-who']) });

  beforeAll(async () => {
    apollo = new ApolloServer<Ctx>({
      typeDefs,
      resolvers,
      includeStacktraceInErrorResponses: false,
      plugins: [
        {
          requestDidStart: async () => ({
            willSendResponse: async ({ response }) => {
              response.http.headers.set('x-plugin', 'yes');
            },
          }),
        },
      ],
    });
    await apollo.start();
    const app = express();
    app.set('etag', false);
    app.set('x-powered-by', false);
    app.use('/graphql', express.json(), expressMiddleware(apollo, { context: ({ req }) => context(req) }));
    theirs = await listen(app);
    const steps = [jsonBody(100_000), apolloHttp(apollo, context)];
    ours = await listen((req, res) => runSteps(steps, req, res, (err) => res.end(String(err))));
  });
  afterAll(async () => {
    ours.server.close();
    theirs.server.close();
    await apollo.stop();
  });

  it.each<[string, string, Record<string, string>?]>([
    ['a query', JSON.stringify({ query: '{ hello who }' })],
    ['a field that throws', JSON.stringify({ query: '{ hello fails }' })],
    ['a document that does not parse', JSON.stringify({ query: '{ hello ' })],
    ['a document that does not validate', JSON.stringify({ query: '{ nope }' })],
    ['no query', JSON.stringify({ variables: {} })],
    ['an empty body', ''],
    ['variables of the wrong type', JSON.stringify({ query: '{ hello }', variables: [] })],
    ['a batch (batching off)', JSON.stringify([{ query: '{ hello }' }])],
    [
      'the GraphQL response media type',
      JSON.stringify({ query: '{ hello }' }),
      { accept: 'application/graphql-response+json' },
    ],
    ['an accept it cannot answer', JSON.stringify({ query: '{ hello }' }), { accept: 'text/plain' }],
    ['an operation name', JSON.stringify({ query: 'query A { hello } query B { who }', operationName: 'B' })],
  ])('%s', async (_what, body, headers = {}) => {
    const [a, b] = [await post(ours.url, body, headers), await post(theirs.url, body, headers)];
    expect(a).toEqual(b);
  });

  it('answers a query string on the POST as express does (Apollo reads the body)', async () => {
    const body = JSON.stringify({ query: '{ hello }' });
    expect(await post(`${ours.url}?query=%7Bwho%7D`, body)).toEqual(
      await post(`${theirs.url}?query=%7Bwho%7D`, body),
    );
  });
});

describe('runSteps runs steps as express runs a route', () => {
  const run = (steps: (Step | ErrorStep)[]) =>
    new Promise<{ trail: string[]; done: unknown }>((resolve) => {
      const trail: string[] = [];
      const named = steps.map((s, i) =>
        s.length === 4
          ? (((err: unknown, req, res, next) => {
              trail.push(`error${i}:${String((err as Error)?.message)}`);
              (s as ErrorStep)(err, req, res, next);
            }) as ErrorStep)
          : (((req, res, next) => {
              trail.push(`step${i}`);
              return (s as Step)(req, res, next);
            }) as Step),
      );
      runSteps(named, {} as StepRequest, {} as never, (done) => resolve({ trail, done }));
    });
  const passes: Step = (_req, _res, next) => next();
  const passesError: ErrorStep = (err, _req, _res, next) => next(err);

  it('goes on in order, skipping error steps while nothing failed', async () => {
    expect(await run([passes, passesError, passes])).toEqual({ trail: ['step0', 'step2'], done: undefined });
  });
  it('goes from a failure (next(err), a throw, a rejected promise) to the next error step only', async () => {
    const failing: Step[] = [
      (_req, _res, next) => next(new Error('a')),
      () => {
        throw new Error('a');
      },
      async () => {
        throw new Error('a');
      },
    ];
    for (const fail of failing) {
      const r = await run([fail, passes, passesError, passes]);
      expect(r.trail).toEqual(['step0', 'error2:a']);
      expect((r.done as Error).message).toBe('a');
    }
  });
  it('goes on after an error step that handled the error', async () => {
    const handles: ErrorStep = (_err, _req, _res, next) => next();
    const fails: Step = (_req, _res, next) => next(new Error('b'));
    const r = await run([fails, handles, passes]);
    expect(r).toEqual({ trail: ['step0', 'error1:b', 'step2'], done: undefined });
  });
});
