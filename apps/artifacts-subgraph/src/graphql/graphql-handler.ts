import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import type { SubgraphAuthenticator } from '#libs/auth';
import type { ErrorStep, Step } from '#libs/graphql-http';
import { createSubgraphServer } from '#libs/subgraph';
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
  /** The same without express, for the plain JSON POSTs of `/graphql` (bootstrapApp's `front`: graphqlLane). */
  lane: (Step | ErrorStep)[];
  stop(): Promise<void>;
}

/** The shared subgraph server over the artifacts schema; its errors go through api-errors.ts. */
export async function createGraphqlHandler(
  service: ArtifactService,
  options: GraphqlHandlerOptions,
): Promise<GraphqlHandler> {
  const server = await createSubgraphServer<ArtifactsContext>({
    ...options,
    schema: await buildArtifactsSubgraphSchema(service),
    toApiError,
    context: (caller) => ({ identity: caller.identity }),
  });
  return { middleware: server.middleware, lane: server.lane, stop: () => server.stop() };
}
