import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types.js';
import { IDENTITY_HEADER, IdentitySigner, verifyIdentity } from '#libs/auth';
import { IdentityForwardingDataSource } from './subgraph-data-source.js';

const SECRET = 'test-identity-secret-0123456789abcdef';

describe('IdentityForwardingDataSource', () => {
  it('signs the caller identity and reuses one keep-alive connection', async () => {
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
    const ds = new IdentityForwardingDataSource(url, new IdentitySigner(SECRET));
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
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
