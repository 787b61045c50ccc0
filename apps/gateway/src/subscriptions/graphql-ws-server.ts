import type { Server } from 'node:http';
import {
  getOperationAST,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  parse,
  specifiedRules,
  validate,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLFormattedError,
} from 'graphql';
import { CloseCode, type Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Authenticator } from '../auth/authenticator.js';
import type { OperationGuard } from '../limits/operation-guard.js';
import type { SubscriptionQuota } from '../limits/subscription-quota.js';
import type { SubscriptionForwarder } from './subscription-forwarder.js';
import type { SupergraphRuntime } from './supergraph-runtime.js';
import type { CallerIdentity } from './upstream-pool.js';

type ConnectionExtra = {
  identity?: CallerIdentity;
  /** One release function per live subscription id. */
  releases?: Map<string, () => void>;
};

export interface GraphqlWsServerOptions {
  httpServer: Server;
  path: string;
  runtime: () => SupergraphRuntime;
  authenticator: Authenticator;
  guard: OperationGuard;
  quota: SubscriptionQuota;
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
  /** How often the keys of open connections are checked again, so a revoked key loses its live sockets. */
  recheckKeysMs: number;
  metrics?: { connections(delta: number): void };
}

function withCode(e: unknown, code: string): GraphQLError {
  const err = e instanceof GraphQLError ? e : new GraphQLError(String(e));
  return new GraphQLError(err.message, {
    nodes: err.nodes,
    source: err.source,
    positions: err.positions,
    extensions: { ...err.extensions, code },
  });
}

export interface GraphqlWsServer {
  /** Closes every client connection with 1001 and stops accepting new ones. */
  dispose(): Promise<void>;
}

/**
 * graphql-ws on the gateway's /graphql path. onConnect checks the API key (4403 Forbidden when bad); each
 * subscribe then passes the same guard as an HTTP request (rate limit, scopes, complexity) and the
 * subscription quotas before the forwarder opens anything upstream.
 */
export function startGraphqlWsServer(o: GraphqlWsServerOptions): GraphqlWsServer {
  const wss = new WebSocketServer({ server: o.httpServer, path: o.path, maxPayload: o.maxPayloadBytes });
  const rules = o.introspection ? specifiedRules : [...specifiedRules, NoSchemaIntrospectionCustomRule];
  const sockets = new Map<Context<Record<string, unknown>, ConnectionExtra>, CallerIdentity>();

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
          (ctx.extra as ConnectionExtra).identity = identity;
          (ctx.extra as ConnectionExtra).releases = new Map();
          sockets.set(ctx, identity);
          o.metrics?.connections(1);
          return true;
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
      },
      onSubscribe: async (ctx, id, payload) => {
        const extra = ctx.extra as ConnectionExtra;
        const identity = extra.identity!;
        const runtime = o.runtime();
        try {
          await o.guard.admit(identity);
          let document;
          try {
            document = parse(payload.query);
          } catch (e) {
            // Request errors carry Apollo's codes, so formatting keeps their message in production.
            return toErrors(withCode(e, 'GRAPHQL_PARSE_FAILED'));
          }
          const errors = validate(runtime.apiGraphQLSchema, document, rules);
          if (errors.length) return errors.flatMap((e) => toErrors(withCode(e, 'GRAPHQL_VALIDATION_FAILED')));
          const operation = getOperationAST(document, payload.operationName);
          if (!operation) return [new GraphQLError('unable to identify the operation')];
          o.guard.check(identity, runtime.apiGraphQLSchema, document, operation, payload.variables);
          if (operation.operation === 'subscription')
            extra.releases!.set(id, await o.quota.acquire(ctx, identity.keyId));
          const args: ExecutionArgs = {
            schema: runtime.apiGraphQLSchema,
            document,
            operationName: payload.operationName,
            variableValues: payload.variables,
            contextValue: { identity, query: payload.query },
          };
          return args;
        } catch (e) {
          return toErrors(e);
        }
      },
      subscribe: (args) => {
        const ctx = args.contextValue as { identity: CallerIdentity; query: string };
        try {
          return o.forwarder.subscribe({
            document: args.document,
            query: ctx.query,
            operationName: args.operationName,
            variables: args.variableValues as Record<string, unknown> | undefined,
            identity: ctx.identity,
            context: { identity: ctx.identity },
          });
        } catch (e) {
          return { errors: toErrors(e) };
        }
      },
      execute: async (args) => {
        const ctx = args.contextValue as { identity: CallerIdentity; query: string };
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
      onComplete: (ctx, id) => {
        const releases = (ctx.extra as ConnectionExtra).releases;
        releases?.get(id)?.();
        releases?.delete(id);
      },
      onClose: (ctx) => {
        const extra = ctx.extra as ConnectionExtra;
        for (const release of extra.releases?.values() ?? []) release();
        extra.releases?.clear();
        if (sockets.delete(ctx)) o.metrics?.connections(-1);
      },
    },
    wss,
    o.pingIntervalMs,
  );

  // A key revoked while its sockets are open: close them within recheckKeysMs.
  const recheck = setInterval(() => {
    const byKey = new Map<string, Context<Record<string, unknown>, ConnectionExtra>[]>();
    for (const [ctx, identity] of sockets)
      byKey.set(identity.keyId, [...(byKey.get(identity.keyId) ?? []), ctx]);
    for (const ctxs of byKey.values()) {
      const authorization = ctxs[0]!.connectionParams?.authorization;
      void o.authenticator.authenticate(authorization).then(
        () => undefined,
        (e: unknown) => {
          const code = e instanceof GraphQLError ? e.extensions?.code : undefined;
          if (code !== 'UNAUTHENTICATED') return; // Redis trouble is not a revocation
          for (const ctx of ctxs)
            (ctx.extra as unknown as { socket: { close(c: number, r: string): void } }).socket.close(
              CloseCode.Forbidden,
              'API key revoked',
            );
        },
      );
    }
  }, o.recheckKeysMs);
  recheck.unref();

  return {
    dispose: async () => {
      clearInterval(recheck);
      await disposable.dispose();
    },
  };
}
