/**
 * The peer of bench/gateway-overhead: a plain @apollo/gateway (Apollo Server 5, its standalone HTTP server)
 * over the same supergraph file and the same subgraphs, with no limits, no API keys and no guards. The
 * subgraphs only accept our gateway's signed identity, so every subgraph call carries one identity signed
 * once at start (a static header, as a gateway without auth would forward). Run as a child process:
 *   node dist/bench/gateway-support/plain-gateway.js <port> <supergraph file> <jobs url> <artifacts url>
 * with SWITCHYARD_IDENTITY_SECRET, PLAIN_TENANT, PLAIN_KEY_ID and PLAIN_SCOPES in the environment.
 * Prints `listening <url>` when ready.
 */
import { readFileSync } from 'node:fs';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { IDENTITY_HEADER, signIdentity } from '#libs/auth';
import type { Scope } from '#libs/contracts';
import { serveChild } from './standalone-child.js';

const [portArg, supergraphPath, jobsUrl, artifactsUrl] = process.argv.slice(2);
if (!portArg || !supergraphPath || !jobsUrl || !artifactsUrl)
  throw new Error('usage: plain-gateway <port> <supergraph file> <jobs url> <artifacts url>');

process.env.APOLLO_TELEMETRY_DISABLED ??= 'true';
const identity = signIdentity(
  {
    tenant: process.env.PLAIN_TENANT ?? 'dev',
    keyId: process.env.PLAIN_KEY_ID ?? 'plain-gateway',
    scopes: (process.env.PLAIN_SCOPES ?? 'jobs:read,jobs:write,artifacts:read,artifacts:write')
      .split(',')
      .filter(Boolean) as Scope[],
    exp: Math.floor(Date.now() / 1000) + 24 * 3600,
  },
  process.env.SWITCHYARD_IDENTITY_SECRET ?? '',
);
const urls: Record<string, string> = { jobs: jobsUrl, artifacts: artifactsUrl };

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(supergraphPath, 'utf8'),
  buildService: ({ name, url }) =>
    new RemoteGraphQLDataSource({
      url: urls[name] ?? url,
      willSendRequest: ({ request }) => request.http?.headers.set(IDENTITY_HEADER, identity),
    }),
});
await serveChild(new ApolloServer({ gateway, stopOnTerminationSignals: false }), Number(portArg));
