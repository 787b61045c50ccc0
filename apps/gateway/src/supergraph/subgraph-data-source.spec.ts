import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types.js';
import { IDENTITY_HEADER, IdentitySigner, verifyIdentity } from '#libs/auth';
import { IdentityForwardingDataSource } from './subgraph-data-source.js';
import { SubgraphHttpClient } from './subgraph-http-client.js';

const SECRET = 'test-identity-secret-0123456789abcdef';

describe('IdentityForwardingDataSource', () => {
  it('signs the caller identity and reuses one keep-alive connection', async () => {
    const client = new SubgraphHttpClient();
    let connections = 0;
    const seen: IncomingMessage['headers'][] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () =>
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"__typename":"Query"}}'),
      );
    });
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    const ds = new IdentityForwardingDataSource(url, new IdentitySigner(SECRET), client);
    const identity = { tenant: 'acme', keyId: 'k1', scopes: ['jobs:read' as const] };
    for (let i = 0; i < 20; i++) {
      const res = await ds.process({
        kind: GraphQLDataSourceRequestKind.INCOMING_OPERATION,
        request: { query: '{ __typename }' },
        context: { identity },
        incomingRequestContext: { request: {} } as never,
      } as never);
      expect(res.data).toEqual({ __typename: 'Query' });
    }
    expect(connections).toBe(1);
    expect(verifyIdentity(seen[0]![IDENTITY_HEADER] as string, SECRET)).toMatchObject(identity);
    client.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('an unreachable subgraph fails with the socket error code; a non-2xx answer with its status', async () => {
    const client = new SubgraphHttpClient();
    const op = {
      kind: GraphQLDataSourceRequestKind.INCOMING_OPERATION,
      request: { query: '{ __typename }' },
      context: {},
      incomingRequestContext: { request: {} },
    } as never;
    const down = new IdentityForwardingDataSource(
      'http://127.0.0.1:1/graphql',
      new IdentitySigner(SECRET),
      client,
    );
    await expect(down.process(op)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[]}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    const refused = new IdentityForwardingDataSource(url, new IdentitySigner(SECRET), client);
    await expect(refused.process(op)).rejects.toMatchObject({
      message: '401: Unauthorized',
      extensions: { code: 'UNAUTHENTICATED' },
    });
    client.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
