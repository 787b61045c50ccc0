import type { Server as HttpServer } from 'node:http';
import type { RequestHandler } from 'express';
import {
  getOperationAST,
  GraphQLError,
  parse,
  subscribe,
  validate,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import {
  CallerAuthError,
  ConnectionCredentialWatch,
  DeliveryRateLimited,
  type ConnectionQuota,
  credentialsFromConnection,
  type CallerCredentials,
  type SubgraphAuthenticator,
  type SubscriptionQuota,
  type VerifiedCaller,
  type WatchedConnection,
} from '#libs/auth';
import { callerAuthGraphQLError } from '#libs/errors';
import type { ErrorStep, Step } from '#libs/graphql-http';
import { countDirectRefusal, createSubgraphServer, type FormatError } from '#libs/subgraph';
import type { JobsService } from '../service/jobs-service.js';
import { subscribeCharged, type ChargedSubscriptionOptions } from './charged-subscription.js';
import type { JobsContext } from './context.js';
import { buildJobsSubgraphSchema } from './subgraph-schema.js';
import { TickBatchedWebSocket } from './tick-batched-websocket.js';

export interface JobsGraphqlOptions {
  /** Who may call (SUBGRAPH_ACCEPT); default: only our gateway's identity signed with `identitySecret`. */
  authenticator?: SubgraphAuthenticator;
  identitySecret?: string;
  production: boolean;
  /** Internal errors (hidden from clients in production) go here. */
  log?: (err: unknown) => void;
  /** Whether a failure means Redis is down (UNAVAILABLE); default: a connectivity error by type or code. */
  unavailable?: (cause: unknown) => boolean;
  /**
   * Live subscriptions of callers that did not come through our gateway, per connection and per key
   * (MAX_SUBSCRIPTIONS_PER_CONNECTION, MAX_SUBSCRIPTIONS_PER_KEY). Required when the authenticator accepts api-key
   * or jwt: jobFeed never completes, so without it one key could hold any number of feeds open.
   */
  subscriptionQuota?: SubscriptionQuota;
  /**
   * Open graphql-ws connections of those callers per key (MAX_CONNECTIONS_PER_KEY), with our gateway's clients:
   * required with subscriptionQuota.
   */
  connectionQuota?: ConnectionQuota;
}

export interface JobsGraphql {
  /** Mount on `/graphql` before the Nest app's init (after init: 404). */
  middleware: RequestHandler[];
  /** The same without express, for the plain JSON POSTs of `/graphql` (bootstrapApp's `front`: graphqlLane). */
  lane: (Step | ErrorStep)[];
  /** graphql-ws on the same path of the app's HTTP server; call after listen. */
  attachWebSocket(server: HttpServer): void;
  /** Closes subscriptions (clients get 1001) and stops Apollo. */
  stop(): Promise<void>;
}

/** Largest graphql-ws message accepted (the gateway's documents are bounded far below; 1 MiB like HTTP). */
export const WS_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** What a graphql-ws connection keeps: its caller and, for re-checks on each subscribe, its credentials. */
type ConnectionAuth = {
  caller?: VerifiedCaller;
  credentials?: CallerCredentials;
  /** In the credential watch while it is open (API-key and JWT callers). */
  watched?: WatchedConnection;
  /**
   * Quota slots of this connection's live subscriptions (direct callers), by their subscribe message's payload:
   * graphql-ws hands the same object to onComplete, and unlike the id it is never reused by the client.
   */
  slots?: Map<object, () => void>;
  /** Gives back this connection's slot in the per-key connection count (direct callers). */
  releaseConnection?: () => void;
  closed?: boolean;
};

/**
 * How often the API keys of open graphql-ws connections are verified again (from the key cache): the bound on a
 * revoked key's connections when its revocation message was lost; a pushed revocation ends them at once.
 */
export const WS_KEY_RECHECK_MS = 1_000;

const forbid = (socket: { close(code: number, reason: string): void }, reason: string) =>
  socket.close(CloseCode.Forbidden, reason);

/** The shared subgraph server (HTTP) and graphql-ws (subscriptions) over the jobs subgraph schema. */
export async function createJobsGraphql(
  service: JobsService,
  options: JobsGraphqlOptions,
): Promise<JobsGraphql> {
  const quota = options.subscriptionQuota;
  const direct = (options.authenticator?.methods ?? []).filter((m) => m !== 'gateway');
  if (direct.length && !quota)
    throw new Error(`accepting ${direct.join(', ')} callers needs a subscription quota (subscriptionQuota)`);
  const connections = options.connectionQuota;
  if (direct.length && !connections)
    throw new Error(`accepting ${direct.join(', ')} callers needs a connection quota (connectionQuota)`);
  const schema = await buildJobsSubgraphSchema(service);
  const server = await createSubgraphServer<JobsContext>({
    ...options,
    schema,
    // no valid credential: Apollo answers the error (401/429/503) and runs nothing; a direct caller's
    // operation is then bounded and charged (an API key: a token per job) before it runs (admitOperation)
    context: (caller) => ({ identity: caller.identity, service }),
  });
  const { authenticate, authenticator: auth, admit, format } = server;

  let wsServer: WebSocketServer | undefined;
  let disposable: { dispose(): void | Promise<void> } | undefined;
  const watch = new ConnectionCredentialWatch({ intervalMs: WS_KEY_RECHECK_MS, onError: options.log });
  let stopRevocations: (() => void) | undefined;

  /**
   * A direct caller's subscription takes a slot per connection and per key before it opens: over either bound
   * RATE_LIMITED (`extensions.limit`), the count unreachable UNAVAILABLE (thrown as the GraphQL error to answer).
   * Returns an error when the connection closed meanwhile (its slots are already given back: nothing will run).
   */
  async function takeSlot(
    extra: ConnectionAuth,
    connection: object,
    caller: VerifiedCaller,
    payload: object,
  ): Promise<GraphQLError | undefined> {
    let release: () => void;
    try {
      release = await quota!.acquire(connection, caller.identity.keyId);
    } catch (e) {
      throw e instanceof CallerAuthError ? callerAuthGraphQLError(e) : e;
    }
    if (extra.closed) {
      release();
      return callerAuthGraphQLError(new CallerAuthError('UNAVAILABLE', 'the connection closed'));
    }
    extra.slots ??= new Map();
    extra.slots.set(payload, () => {
      extra.slots?.delete(payload);
      release();
    });
    return undefined;
  }

  const releaseSlot = (extra: ConnectionAuth, payload: object) => extra.slots?.get(payload)?.();

  /**
   * The subscriptions whose delivered events are charged (a direct API key's), by the execution arguments
   * onSubscribe returned: graphql-ws hands that same object to `subscribe`.
   */
  const charged = new WeakMap<ExecutionArgs, ChargedSubscriptionOptions>();

  return {
    middleware: server.middleware,
    lane: server.lane,
    attachWebSocket(http: HttpServer) {
      // maxPayload: a larger frame closes the socket (1009) before it is buffered or parsed.
      // TickBatchedWebSocket: a subscription's ready events leave in one write, not one write each
      wsServer = new WebSocketServer({
        server: http,
        path: '/graphql',
        maxPayload: WS_MAX_PAYLOAD_BYTES,
        WebSocket: TickBatchedWebSocket,
      });
      TickBatchedWebSocket.attachTo(wsServer);
      watch.start();
      stopRevocations = auth.onApiKeyRevoked((keyId) => watch.revoked(keyId));
      disposable = useServer<Record<string, unknown> | undefined, ConnectionAuth>(
        {
          schema,
          // checked when the connection opens (connection_init payload, else the upgrade request's headers);
          // without a valid credential it closes (4403). An API key or a JWT is checked again on each
          // subscribe, and while the connection lives: a revoked key's or an expired JWT's connection closes
          // (4403), as an HTTP request would be refused.
          onConnect: async (ctx) => {
            const credentials = credentialsFromConnection(ctx.connectionParams, ctx.extra.request.headers);
            let caller: VerifiedCaller;
            try {
              caller = await auth.authenticate(credentials);
            } catch (e) {
              if (e instanceof CallerAuthError && e.code === 'UNAUTHENTICATED') return false;
              throw e;
            }
            ctx.extra.caller = caller;
            ctx.extra.credentials = credentials;
            if (caller.method !== 'gateway') {
              // one slot per open connection of the key, our gateway's clients' included (1013 past the bound)
              const release = await connections!.admitSocket(
                caller.identity.keyId,
                ctx.extra.socket,
                () => ctx.extra.closed === true,
              );
              if (!release) return false;
              ctx.extra.releaseConnection = release;
              ctx.extra.watched = {
                ...(caller.method === 'api-key'
                  ? { keyId: caller.identity.keyId }
                  : { expiresAtMs: caller.identity.exp * 1000 }),
                verify: () => auth.stillValid(caller, credentials),
                close: (reason) => forbid(ctx.extra.socket, reason),
              };
              watch.add(ctx.extra.watched);
            }
            return true;
          },
          // graphql-ws runs queries and mutations too: a direct caller's operation passes the same checks as
          // over HTTP (its credential again, then admitOperation: bounds and cost, and an API key's token per job),
          // so it is parsed and validated here, as graphql-ws would, to be checked before it runs; our gateway's
          // are left to graphql-ws. A direct API key's subscription then pays for each event delivered, as our
          // gateway charges its clients (its measured cost per event: SubgraphAuthenticator.deliveryCharge).
          onSubscribe: async (ctx, _id, payload) => {
            if (ctx.extra.caller?.method === 'gateway') return;
            try {
              const caller = await authenticate(ctx.extra.credentials!);
              ctx.extra.caller = caller;
              let document;
              try {
                document = parse(payload.query);
              } catch (e) {
                return [requestError(e as GraphQLError, 'GRAPHQL_PARSE_FAILED')];
              }
              const invalid = validate(schema, document);
              if (invalid.length) return invalid.map((e) => requestError(e, 'GRAPHQL_VALIDATION_FAILED'));
              const operation = getOperationAST(document, payload.operationName);
              if (!operation) return [new GraphQLError('Unable to identify operation')];
              const admitted = await admit(caller, document, operation, payload.variables);
              const args: ExecutionArgs = {
                schema,
                document,
                operationName: payload.operationName,
                variableValues: payload.variables,
              };
              if (operation.operation === 'subscription') {
                const closed = await takeSlot(ctx.extra, ctx, caller, payload);
                if (closed) return [closed];
                // an uncharged one (a JWT caller's) is graphql-js's plain subscribe
                if (admitted && auth.chargesDeliveries(caller, admitted.cost))
                  charged.set(args, {
                    charge: (onEnd) =>
                      auth.deliveryCharge(caller, admitted.cost, (error) => {
                        countDirectRefusal(
                          error instanceof DeliveryRateLimited ? 'subscriptionEvents' : 'unavailable',
                        );
                        onEnd(error);
                      }),
                    cursorOf: resumeCursor,
                  });
              }
              return args;
            } catch (e) {
              if (e instanceof GraphQLError) {
                if (e.extensions?.code === 'UNAUTHENTICATED') forbid(ctx.extra.socket, e.message);
                return [e];
              }
              throw e;
            }
          },
          // a subscription's slot is given back when it ends, however it ends (done, failed, the client's
          // complete: graphql-ws calls this once the operation stops), and with its connection
          onComplete: (ctx, _id, payload) => releaseSlot(ctx.extra, payload),
          onClose: (ctx) => {
            ctx.extra.closed = true;
            for (const release of [...(ctx.extra.slots?.values() ?? [])]) release();
            ctx.extra.releaseConnection?.();
            ctx.extra.releaseConnection = undefined;
            if (ctx.extra.watched) watch.delete(ctx.extra.watched);
          },
          context: (ctx): JobsContext => ({ identity: ctx.extra.caller!.identity, service }),
          subscribe: (args) => {
            const options = charged.get(args);
            return options ? subscribeCharged(args, options) : subscribe(args);
          },
          // the same error mapping as HTTP
          onNext: (_ctx, _id, _payload, _args, result) => formatResult(result as ExecutionResult, format),
          onError: (_ctx, _id, _payload, errors) => errors.map((e) => format(e.toJSON(), e) as GraphQLError),
        },
        wsServer,
      );
    },
    async stop() {
      stopRevocations?.();
      watch.stop();
      await disposable?.dispose();
      await new Promise<void>((r) => (wsServer ? wsServer.close(() => r()) : r()));
      await server.stop();
    },
  };
}

/**
 * Where a direct caller resumes after an event (`resumeAfter` of a charged subscription's end): a jobFeed event's
 * feedCursor (only the feed's events carry one), else a jobEvents event's cursor, as our gateway resumes them.
 */
function resumeCursor(event: unknown): string | undefined {
  const e = event as { cursor?: unknown; feedCursor?: unknown } | null;
  const cursor = e?.feedCursor ?? e?.cursor;
  return typeof cursor === 'string' ? cursor : undefined;
}

/** A document refused before it ran, with the code Apollo gives it over HTTP (kept by the error mapping). */
const requestError = (e: GraphQLError, code: 'GRAPHQL_PARSE_FAILED' | 'GRAPHQL_VALIDATION_FAILED') =>
  new GraphQLError(e.message, {
    nodes: e.nodes,
    source: e.source,
    positions: e.positions,
    extensions: { code },
  });

function formatResult(result: ExecutionResult, format: FormatError): ExecutionResult | undefined {
  if (!result.errors?.length) return undefined;
  return { ...result, errors: result.errors.map((e) => format(e.toJSON(), e) as unknown as GraphQLError) };
}
