import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type RequestHandler } from 'express';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { CallerAuthError, credentialsFromHttp, SubgraphAuthenticator } from '#libs/auth';
import { callerAuthGraphQLError, formatGraphQLError } from '#libs/errors';
import type { ArtifactService } from '../uploads/artifact-service.js';
import { toApiError } from './api-errors.js';
import type { ArtifactsContext } from './context.js';
import { buildArtifactsSubgraphSchema } from './subgraph-schema.js';

export interface GraphqlHandlerOptions {
  /** Who may call (SUBGRAPH_ACCEPT); default: only our gateway's identity signed with `identitySecret`. */
  authenticator?: SubgraphAuthenticator;
  identitySecret?: string;
  production: boolean;
  /** Internal errors (hidden from clients in production) go here. */
  log?: (err: unknown) => void;
  /** Whether a failure means Redis is down (UNAVAILABLE); default: a connectivity error by type or code. */
  unavailable?: (cause: unknown) => boolean;
  plugins?: ApolloServerPlugin<ArtifactsContext>[];
}

export interface GraphqlHandler {
  /** Mount on `/graphql` before the Nest app's init (after init: 404). */
  middleware: RequestHandler[];
  stop(): Promise<void>;
}

/** Every request carries a credential this deployment accepts; without a valid one nothing runs. */
function contextFrom(auth: SubgraphAuthenticator) {
  return async ({ req }: { req: express.Request }): Promise<ArtifactsContext> => {
    try {
      return { identity: (await auth.authenticate(credentialsFromHttp(req))).identity };
    } catch (e) {
      if (e instanceof CallerAuthError) throw callerAuthGraphQLError(e);
      throw e;
    }
  };
}

function unwrap(error: unknown): unknown {
  // Resolver errors arrive wrapped in a GraphQLError whose originalError is what was thrown.
  return error instanceof GraphQLError && error.originalError ? error.originalError : error;
}

/** Apollo Server 5 over the federation subgraph schema, as express middleware. */
export async function createGraphqlHandler(
  service: ArtifactService,
  options: GraphqlHandlerOptions,
): Promise<GraphqlHandler> {
  const schema = await buildArtifactsSubgraphSchema(service);
  const server = new ApolloServer<ArtifactsContext>({
    schema,
    introspection: !options.production,
    // The app's bootstrap owns SIGTERM (close, then exit 0); Apollo's own handler would re-raise the signal.
    stopOnTerminationSignals: false,
    plugins: options.plugins,
    formatError: (formatted: GraphQLFormattedError, error: unknown) =>
      formatGraphQLError(formatted, toApiError(unwrap(error)), {
        production: options.production,
        log: options.log,
        unavailable: options.unavailable,
      }),
  });
  await server.start();
  return {
    middleware: [
      express.json({ limit: '1mb' }),
      expressMiddleware(server, {
        context: contextFrom(
          options.authenticator ??
            new SubgraphAuthenticator({ accept: ['gateway'], identitySecrets: options.identitySecret ?? '' }),
        ),
      }),
    ],
    stop: () => server.stop(),
  };
}
