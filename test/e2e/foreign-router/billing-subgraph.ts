// The other team's subgraph: extends our Job with `cost` and has its own Relay PageInfo (with fields ours
// lacks), the case that failed composition before our value types were @shareable.
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { gql } from 'graphql-tag';

export const BILLING_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])

  type Job @key(fields: "id") {
    id: ID!
    "what the job cost, in credits"
    cost: Float!
  }

  type PageInfo @shareable {
    hasNextPage: Boolean!
    hasPreviousPage: Boolean!
    startCursor: String
    endCursor: String
  }

  type Invoice {
    id: ID!
    amount: Float!
  }

  type InvoiceConnection {
    nodes: [Invoice!]!
    pageInfo: PageInfo!
  }

  type Query {
    invoices: InvoiceConnection!
  }
`;

/** A job's cost: a function of its id, so the test can check the value came from here. */
export const costOf = (jobId: string): number => (jobId.length % 7) + 0.5;

export interface BillingSubgraph {
  url: string;
  /** Authorization headers billing saw (the router forwards it to every subgraph). */
  seenAuthorization: Array<string | undefined>;
  stop(): Promise<void>;
}

export async function startBillingSubgraph(): Promise<BillingSubgraph> {
  const seenAuthorization: Array<string | undefined> = [];
  const server = new ApolloServer({
    schema: buildSubgraphSchema([
      {
        typeDefs: gql(BILLING_SDL),
        resolvers: {
          Job: { __resolveReference: (ref: { id: string }) => ({ id: ref.id, cost: costOf(ref.id) }) },
          Query: {
            invoices: () => ({
              nodes: [{ id: 'inv-1', amount: 12 }],
              pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
            }),
          },
        } as never,
      },
    ]),
  });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => {
      seenAuthorization.push(req.headers.authorization);
      return {};
    },
  });
  return { url, seenAuthorization, stop: () => server.stop() };
}
