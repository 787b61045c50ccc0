/**
 * The floor of bench/gateway-overhead: the jobs subgraph's own SDL (graphql/jobs.graphql) served by
 * @apollo/subgraph on Apollo Server 5's standalone HTTP server, answering `job(id)` and `submitJob` with a
 * constant job — no Redis, no auth, no validation. A plain @apollo/gateway over it measures what one
 * federated request costs in the stack the project uses (gateway + subgraph), before any work of ours.
 * Run as a child process: node dist/bench/gateway-support/constant-subgraph.js <port> <jobs SDL file>
 * Prints `listening <url>` when ready.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { ApolloServer } from '@apollo/server';
import { parse } from 'graphql';
import { serveChild } from './standalone-child.js';

const [portArg, sdlPath] = process.argv.slice(2);
if (!portArg || !sdlPath) throw new Error('usage: constant-subgraph <port> <jobs SDL file>');

process.env.APOLLO_TELEMETRY_DISABLED ??= 'true';
const createdAt = new Date().toISOString();
const job = (id: string) => ({ id, status: 'QUEUED', createdAt });

const schema = buildSubgraphSchema({
  typeDefs: parse(readFileSync(sdlPath, 'utf8')),
  resolvers: {
    Query: { job: (_: unknown, args: { id: string }) => job(args.id) },
    Mutation: { submitJob: () => job(randomUUID()) },
  },
});
await serveChild(new ApolloServer({ schema, stopOnTerminationSignals: false }), Number(portArg));
