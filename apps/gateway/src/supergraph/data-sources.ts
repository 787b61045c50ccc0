import { LocalGraphQLDataSource, type GraphQLDataSource, type ServiceMap } from '@apollo/gateway';
import type { GraphQLSchema } from 'graphql';
import { IdentitySigner } from '#libs/auth';
import { IdentityForwardingDataSource } from './subgraph-data-source.js';
import { SERVICE } from './service-names.js';
import { SubgraphHttpClient } from './subgraph-http-client.js';

/**
 * One data source per subgraph, shared by the gateway's query execution and the subscription forwarder's
 * entity fetches. URLs come from configuration, not from the supergraph file (which names the defaults).
 */
export class SubgraphDataSources {
  private readonly sources = new Map<string, GraphQLDataSource>();
  private readonly signer: IdentitySigner;
  private readonly client = new SubgraphHttpClient();

  constructor(
    private readonly urls: Record<string, string>,
    identitySecret: string,
    apiKeysSchema: GraphQLSchema,
  ) {
    this.signer = new IdentitySigner(identitySecret);
    this.sources.set(SERVICE.apiKeys, new LocalGraphQLDataSource(apiKeysSchema));
  }

  /** For ApolloGateway's buildService. */
  get(name: string, supergraphUrl?: string): GraphQLDataSource {
    let source = this.sources.get(name);
    if (!source) {
      const url = this.urls[name] ?? supergraphUrl;
      if (!url) throw new Error(`no URL for subgraph "${name}"`);
      source = new IdentityForwardingDataSource(url, this.signer, this.client);
      this.sources.set(name, source);
    }
    return source;
  }

  all(): ServiceMap {
    return Object.fromEntries(this.sources);
  }

  /** Closes the kept-alive subgraph connections. */
  close(): void {
    this.client.close();
  }
}

/** graphql-ws URL of a subgraph: same host and path, ws(s) scheme. */
export const toWebSocketUrl = (httpUrl: string): string => httpUrl.replace(/^http/, 'ws');
