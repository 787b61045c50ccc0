import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { GraphQLInt, GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { IDENTITY_HEADER, signIdentity } from '#libs/auth';
import { createSubgraphServer, type SubgraphServer } from './subgraph-server.js';

const SECRET = 'subgraph-server-spec-secret-0123456789abcdef';

/** The HTTP answers of the shared subgraph server (no Redis: identity tokens only). */
describe('createSubgraphServer', () => {
  let http: Server;
  let server: SubgraphServer;
  let url: string;
  let schema: GraphQLSchema;
  let ticksResolved = 0;

  beforeAll(async () => {
    schema = new GraphQLSchema({
      query: new GraphQLObjectType({
        name: 'Query',
        fields: {
          items: { type: new GraphQLList(GraphQLString), resolve: () => ['a', 'b'] },
          boom: {
            type: GraphQLInt,
            resolve: () => {
              throw new Error('boom');
            },
          },
        },
      }),
      subscription: new GraphQLObjectType({
        name: 'Subscription',
        fields: {
          ticks: {
            type: GraphQLInt,
            subscribe: async function* () {
              yield { ticks: 1 };
            },
            resolve: () => ++ticksResolved,
          },
        },
      }),
    });
    server = await createSubgraphServer({
      schema,
      identitySecret: SECRET,
      production: true,
      context: (caller) => ({ identity: caller.identity }),
    });
    const app = express();
    app.use('/graphql', ...server.middleware);
    http = createServer(app);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
  });
  afterAll(async () => {
    await server.stop();
    await new Promise((r) => http.close(r));
  });

  const post = (query: string) =>
    fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [IDENTITY_HEADER]: signIdentity({ tenant: 'acme', keyId: 'k', scopes: ['jobs:read'] }, SECRET),
      },
      body: JSON.stringify({ query }),
    });

  it("leaves the schema's field resolvers unwrapped (no plugin hooks every field)", async () => {
    const field = schema.getQueryType()!.getFields().items!;
    const original = field.resolve;
    expect((await (await post('{ items }')).json()) as unknown).toEqual({ data: { items: ['a', 'b'] } });
    // Apollo wraps every resolver in place once some plugin has willResolveField (the cache-control one did)
    expect(field.resolve).toBe(original);
  });

  it('answers Cache-Control: no-store on data, on resolver errors and on invalid documents', async () => {
    for (const query of ['{ items }', '{ boom }', '{ nope }']) {
      const res = await post(query);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('refuses a subscription sent over HTTP (they are served over graphql-ws), running nothing of it', async () => {
    const res = await post('subscription { ticks }');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { data?: unknown; errors: { extensions: { code: string } }[] };
    expect(body.data).toBeUndefined();
    expect(body.errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
    expect(ticksResolved).toBe(0);
  });
});
