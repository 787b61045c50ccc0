import type { Server as HttpServer } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type RequestHandler } from 'express';
import { GraphQLError, type GraphQLFormattedError, type ExecutionResult } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { IDENTITY_HEADER, IdentityError, verifyIdentity } from '#libs/auth';
import { formatGraphQLError } from '#libs/errors';
import type { JobsService } from '../service/jobs-service.js';
import type { JobsContext } from './context.js';
import { buildJobsSubgraphSchema } from './subgraph-schema.js';

export interface JobsGraphqlOptions {
  identitySecret: string;
  production: boolean;
  /** Internal errors (hidden from clients in production) go here. */
  log?: (err: unknown) => void;
}

export interface JobsGraphql {
  /** Mount on `/graphql` before the Nest app's init (after init: 404). */
  middleware: RequestHandler[];
  /** graphql-ws on the same path of the app's HTTP server; call after listen. */
  attachWebSocket(server: HttpServer): void;
  /** Closes subscriptions (clients get 1001) and stops Apollo. */
  stop(): Promise<void>;
}

/** Largest graphql-ws message accepted (the gateway's documents are bounded far below; 1 MiB like HTTP). */
export const WS_MAX_PAYLOAD_BYTES = 1024 * 1024;

const unauthenticated = (e: IdentityError) =>
  new GraphQLError(e.message, {
    extensions: { code: 'UNAUTHENTICATED', reason: e.reason, http: { status: 401 } },
  });

/** Apollo Server 5 (HTTP) and graphql-ws (subscriptions) over the jobs subgraph schema. */
export async function createJobsGraphql(
  service: JobsService,
  options: JobsGraphqlOptions,
): Promise<JobsGraphql> {
  const schema = await buildJobsSubgraphSchema(service);
  const format = (formatted: GraphQLFormattedError, error: unknown) =>
    formatGraphQLError(formatted, error, { production: options.production, log: options.log });
  const server = new ApolloServer<JobsContext>({
    schema,
    introspection: !options.production,
    formatError: format,
    // the app's shutdown stops Apollo; Apollo's own handler would re-raise SIGTERM and kill the process mid-drain
    stopOnTerminationSignals: false,
  });
  await server.start();

  const httpContext = async ({ req }: { req: express.Request }): Promise<JobsContext> => {
    try {
      return { identity: verifyIdentity(req.header(IDENTITY_HEADER), options.identitySecret), service };
    } catch (e) {
      if (e instanceof IdentityError) throw unauthenticated(e);
      throw e;
    }
  };

  let wsServer: WebSocketServer | undefined;
  let disposable: { dispose(): void | Promise<void> } | undefined;

  return {
    middleware: [express.json({ limit: '1mb' }), expressMiddleware(server, { context: httpContext })],
    attachWebSocket(http: HttpServer) {
      // maxPayload: a larger frame closes the socket (1009) before it is buffered or parsed.
      wsServer = new WebSocketServer({ server: http, path: '/graphql', maxPayload: WS_MAX_PAYLOAD_BYTES });
      disposable = useServer<Record<string, unknown> | undefined, { identity?: JobsContext['identity'] }>(
        {
          schema,
          // the identity is checked once, when the connection opens; without a valid one it closes (4403)
          onConnect: (ctx) => {
            try {
              ctx.extra.identity = verifyIdentity(
                ctx.connectionParams?.identity as string | undefined,
                options.identitySecret,
              );
              return true;
            } catch (e) {
              if (e instanceof IdentityError) return false;
              throw e;
            }
          },
          context: (ctx): JobsContext => ({ identity: ctx.extra.identity!, service }),
          // the same error mapping as HTTP
          onNext: (_ctx, _id, _payload, _args, result) => formatResult(result as ExecutionResult, format),
          onError: (_ctx, _id, _payload, errors) => errors.map((e) => format(e.toJSON(), e) as GraphQLError),
        },
        wsServer,
      );
    },
    async stop() {
      await disposable?.dispose();
      await new Promise<void>((r) => (wsServer ? wsServer.close(() => r()) : r()));
      await server.stop();
    },
  };
}

function formatResult(
  result: ExecutionResult,
  format: (f: GraphQLFormattedError, e: unknown) => GraphQLFormattedError,
): ExecutionResult | undefined {
  if (!result.errors?.length) return undefined;
  return { ...result, errors: result.errors.map((e) => format(e.toJSON(), e) as unknown as GraphQLError) };
}
