import type { Server } from 'node:http';
import {
  getVariableValues,
  GraphQLError,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLFormattedError,
} from 'graphql';
import { CloseCode, type Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  ConnectionCredentialWatch,
  type ConnectionQuota,
  type SubscriptionQuota,
  type WatchedConnection,
} from '#libs/auth';
import { ClientConnection, type DirectSink } from './direct-delivery.js';
import type { Authenticator } from '../auth/authenticator.js';
import { asGatewayError, gatewayError } from '../gateway-errors.js';
import { DocumentRefused, type DocumentGuard } from '../limits/document-guard.js';
import type { OperationGuard } from '../limits/operation-guard.js';
import type { SubscriptionForwarder } from './subscription-forwarder.js';
import type { SocketWriteBatching } from './socket-write-batching.js';
import type { SupergraphRuntime } from './supergraph-runtime.js';
import type { CallerIdentity } from './upstream-pool.js';

type ConnectionExtra = {
  /** The connection in the credential watch (closed when its key is revoked). */
  watched?: WatchedConnection;
  /** Release functions of the slots this connection holds (given back on close if not before). */
  releases?: Set<() => void>;
  /** Ids whose subscribe is still being admitted (auth, rate limit, quota round trips). */
  pending?: Set<string>;
  closed?: boolean;
  /** Gives back this connection's slot in the per-key connection count. */
  releaseConnection?: () => void;
  /** The client's socket, for subscriptions that write their events directly. */
  connection?: ClientConnection;
  socket?: WebSocket;
};

/** What onSubscribe hands to subscribe/execute through the execution context. */
type OperationContext = {
  identity: CallerIdentity;
  query: string;
  release?: () => void;
  direct?: DirectSink;
  /** The operation's measured cost: what each delivered event of a subscription is charged. */
  cost: number;
};

/**
 * The forwarder's stream, giving the subscription slot back when it ends, however it ends: done, failed,
 * or `return()` — also when graphql-ws returns it before the first `next()` (the client completed the id
 * while it was being admitted), which an async generator's `finally` would not see.
 */
function releasing<T>(
  inner: AsyncGenerator<T, undefined>,
  release: () => void,
): AsyncGenerator<T, undefined> {
  // a cast, not an annotation: AsyncGenerator gains [Symbol.asyncDispose] where the esnext.disposable lib is loaded
  const it = {
    next: async (...args) => {
      try {
        const r = await inner.next(...args);
        if (r.done) release();
        return r;
      } catch (e) {
        release();
        throw e;
      }
    },
    return: async (value) => {
      release();
      return inner.return(value);
    },
    throw: async (e) => {
      release();
      return inner.throw(e);
    },
    [Symbol.asyncIterator]: () => it,
  } as AsyncGenerator<T, undefined>;
  return it;
}

export interface GraphqlWsServerOptions {
  httpServer: Server;
  path: string;
  runtime: () => SupergraphRuntime;
  authenticator: Authenticator;
  guard: OperationGuard;
  /** Size, tokens, shape, complexity and validation of each document: the same gate as HTTP. */
  documentGuard: DocumentGuard;
  quota: SubscriptionQuota;
  /** Open connections per API key (across replicas): one slot from an accepted connection_init to the close. */
  connections: ConnectionQuota;
  forwarder: SubscriptionForwarder;
  /** Queries and mutations sent over the socket run through the gateway like HTTP ones. */
  executeOperation: (
    args: { query: string; variables?: Record<string, unknown>; operationName?: string },
    identity: CallerIdentity,
  ) => Promise<ExecutionResult>;
  introspection: boolean;
  pingIntervalMs: number;
  maxPayloadBytes: number;
  format: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /**
   * How often the keys of open connections are verified again (from the key cache): the bound on a revoked
   * key's sockets when its revocation message was lost. A pushed revocation closes them at once.
   */
  recheckKeysMs: number;
  /** Revocations as the key cache receives them (CachedApiKeyVerifier.onRevoked). */
  revocations?: { onRevoked(listener: (keyId: string) => void): () => void };
  /** Batches each connection's frames (the forwarder flushes it as its shared streams hand out events). */
  writes: SocketWriteBatching;
  metrics?: { connections(delta: number): void };
}

export interface GraphqlWsServer {
  /** Closes every client connection with 1001 and stops accepting new ones. */
  dispose(): Promise<void>;
}

/** The key itself was refused (revoked, unknown), as opposed to not being checkable right now. */
const refused = (e: unknown) => e instanceof GraphQLError && e.extensions?.code === 'UNAUTHENTICATED';

/**
 * graphql-ws on the gateway's /graphql path. onConnect checks the API key (4403 Forbidden when bad); each
 * subscribe (and query or mutation) verifies it again, then passes the same guard as an HTTP request (rate
 * limit, scopes, complexity) and the subscription quotas before the forwarder opens anything upstream. A
 * revoked key's open sockets are closed 4403 (ConnectionCredentialWatch).
 */

export function startGraphqlWsServer(o: GraphqlWsServerOptions): GraphqlWsServer {
  const wss = new WebSocketServer({ server: o.httpServer, path: o.path, maxPayload: o.maxPayloadBytes });
  o.writes.attach(wss);
  const watch = new ConnectionCredentialWatch({ intervalMs: o.recheckKeysMs });
  watch.start();
  const stopRevocations = o.revocations?.onRevoked((keyId) => watch.revoked(keyId));
  const forbid = (ctx: Context<Record<string, unknown>, ConnectionExtra>, reason: string) =>
    (ctx.extra as unknown as { socket: { close(c: number, r: string): void } }).socket.close(
      CloseCode.Forbidden,
      reason,
    );
  /**
   * The connection's key verified again (answered by the key cache, as an HTTP request's is): a revoked key
   * is refused here and its socket closed (4403), so nothing it sends runs after the revocation reached this
   * replica.
   */
  const reauthenticate = async (ctx: Context<Record<string, unknown>, ConnectionExtra>) => {
    try {
      return await o.authenticator.authenticate(ctx.connectionParams?.authorization);
    } catch (e) {
      if (refused(e)) forbid(ctx, (e as Error).message);
      throw e;
    }
  };

  const toErrors = (e: unknown): GraphQLError[] => {
    const err =
      e instanceof GraphQLError
        ? e
        : new GraphQLError(e instanceof Error ? e.message : String(e), { originalError: e as Error });
    const formatted = o.format(err.toJSON(), err);
    return [new GraphQLError(formatted.message, { extensions: formatted.extensions })];
  };

  const disposable = useServer<Record<string, unknown>, ConnectionExtra>(
    {
      onConnect: async (ctx) => {
        try {
          const identity = await o.authenticator.authenticate(ctx.connectionParams?.authorization);
          const extra = ctx.extra as ConnectionExtra;
          const release = await o.connections.admitSocket(
            identity.keyId,
            (ctx.extra as unknown as { socket: { close(c: number, r: string): void } }).socket,
            () => extra.closed === true,
          );
          if (!release) return false;
          extra.releaseConnection = release;
          extra.releases = new Set();
          extra.pending = new Set();
          extra.watched = {
            keyId: identity.keyId,
            verify: () =>
              o.authenticator.authenticate(ctx.connectionParams?.authorization).then(
                () => 'valid' as const,
                // Redis trouble (UNAVAILABLE) is not a revocation
                (e: unknown) => (refused(e) ? ('invalid' as const) : ('unknown' as const)),
              ),
            close: (reason) => forbid(ctx, reason),
          };
          watch.add(extra.watched);
          o.metrics?.connections(1);
          return true;
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
      },
      onSubscribe: async (ctx, id, payload) => {
        const extra = ctx.extra as ConnectionExtra;
        // An id is unique while its operation lives (graphql-ws closes with 4409 on a duplicate); one whose
        // subscribe is still being admitted is alive too: re-using it would hand two streams one id, and
        // one of their slots would never be given back.
        if (extra.pending!.has(id)) {
          (ctx.extra as unknown as { socket: { close(c: number, r: string): void } }).socket.close(
            CloseCode.SubscriberAlreadyExists,
            `Subscriber for ${id} already exists`,
          );
          return toErrors(new Error(`subscription id ${id} is still in use`));
        }
        extra.pending!.add(id);
        let release: (() => void) | undefined;
        try {
          const identity = await reauthenticate(ctx);
          await o.guard.admit(identity);
          const runtime = o.runtime();
          const { document, operation, cost } = o.documentGuard.admit({
            query: payload.query,
            operationName: payload.operationName,
            variables: payload.variables,
            schema: runtime.apiGraphQLSchema,
            costs: runtime.costs,
            validate: true,
            introspection: o.introspection,
          });
          o.guard.checkScopes(identity, document, operation);
          if (operation.operation === 'subscription') {
            // Apollo refuses bad variables of queries and mutations (executeOperation); a subscription's are
            // checked here, as Apollo would, before a slot is taken or anything opens upstream (a variable
            // the upstream operation does not use would never be checked at all)
            const coerced = getVariableValues(
              runtime.apiGraphQLSchema,
              operation.variableDefinitions ?? [],
              payload.variables ?? {},
            );
            if (coerced.errors) return coerced.errors.flatMap((err) => toErrors(err));
            const acquired = await o.quota.acquire(ctx, identity.keyId).catch((e: unknown) => {
              throw asGatewayError(e);
            });
            let done = false;
            release = () => {
              if (done) return;
              done = true;
              extra.releases!.delete(release!);
              acquired();
            };
            extra.releases!.add(release);
            // The connection closed while the slot was being taken: nothing will run.
            if (extra.closed) {
              release();
              return toErrors(gatewayError('UNAVAILABLE', 'the connection closed'));
            }
          }
          const contextValue: OperationContext = { identity, query: payload.query, release, cost };
          if (operation.operation === 'subscription' && extra.socket) {
            // a connection's key is the one it was opened with: its unwritten frames count against that key's bytes
            extra.connection ??= new ClientConnection(extra.socket, o.forwarder.budgetFor(identity.keyId));
            contextValue.direct = extra.connection.sink(id);
          }
          const args: ExecutionArgs = {
            schema: runtime.apiGraphQLSchema,
            document,
            operationName: payload.operationName,
            variableValues: payload.variables,
            contextValue,
          };
          return args;
        } catch (e) {
          release?.();
          if (e instanceof DocumentRefused) return e.errors.flatMap((err) => toErrors(err));
          return toErrors(e);
        } finally {
          extra.pending!.delete(id);
        }
      },
      subscribe: (args) => {
        const ctx = args.contextValue as OperationContext;
        const release = ctx.release ?? (() => undefined);
        try {
          const stream = o.forwarder.subscribe({
            document: args.document,
            query: ctx.query,
            operationName: args.operationName,
            variables: args.variableValues as Record<string, unknown> | undefined,
            identity: ctx.identity,
            context: { identity: ctx.identity },
            direct: ctx.direct,
            eventCost: ctx.cost,
          });
          return releasing(stream, release);
        } catch (e) {
          release();
          return { errors: toErrors(e) };
        }
      },
      execute: async (args) => {
        const ctx = args.contextValue as OperationContext;
        const result = await o.executeOperation(
          {
            query: ctx.query,
            variables: args.variableValues as Record<string, unknown> | undefined,
            operationName: args.operationName ?? undefined,
          },
          ctx.identity,
        );
        return result;
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        const r = result as ExecutionResult;
        if (!r.errors?.length) return;
        return {
          ...r,
          errors: r.errors.map((e) =>
            o.format(e instanceof GraphQLError ? e.toJSON() : (e as GraphQLFormattedError), e),
          ),
        } as never;
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => o.format(e.toJSON(), e)) as never,
      onClose: (ctx) => {
        const extra = ctx.extra as ConnectionExtra;
        extra.closed = true;
        for (const release of [...(extra.releases ?? [])]) release();
        extra.releaseConnection?.();
        extra.releaseConnection = undefined;
        if (extra.watched) {
          watch.delete(extra.watched);
          extra.watched = undefined;
          o.metrics?.connections(-1);
        }
      },
    },
    wss,
    o.pingIntervalMs,
  );

  return {
    dispose: async () => {
      stopRevocations?.();
      watch.stop();
      await disposable.dispose();
    },
  };
}
