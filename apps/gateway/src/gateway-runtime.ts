import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { operationMetricsPlugin } from './operation-metrics-plugin.js';
import { expressMiddleware } from '@as-integrations/express5';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { apolloHttp, jsonBody, type ErrorStep, type Step } from '#libs/graphql-http';
import type { ExecutionResult, GraphQLFormattedError } from 'graphql';
import type { Redis } from 'ioredis';
import {
  ApiKeyStore,
  assertIdentitySecret,
  CachedApiKeyVerifier,
  loggedApiKeyCacheHooks,
  RATE_LIMIT_SCRIPTS,
  rateLimiter,
  rateLimitUnits,
  SharedSubscriptionSlots,
  ConnectionQuota,
  connectionSlotsKey,
  SUBSCRIPTION_SLOT_SCRIPTS,
  SubscriptionQuota,
  type RateLimiter,
} from '#libs/auth';
import type { Logger } from '#libs/observability';
import {
  createRedis,
  pingRedis,
  quitRedis,
  type RedisEvictionPolicyError,
  redisTarget,
  watchEvictionPolicy,
} from '#libs/redis';
import { unavailableWhenDisconnected } from '#libs/errors';
import { AdminQueueBoard, ADMIN_QUEUES_PATH } from './admin/admin-queue-board.js';
import { buildApiKeysSchema } from './api-keys/api-keys-subgraph.js';
import { Authenticator } from './auth/authenticator.js';
import type { GatewayConfig } from './gateway-config.js';
import { formatGatewayError, gatewayError } from './gateway-errors.js';
import { createGatewayMetrics } from './gateway-metrics.js';
import { authenticateRequest, identityOf } from './http/authenticate-request.js';
import { bodyErrors, graphqlBody } from './http/body-parsing.js';
import { guardDocuments } from './http/guard-documents.js';
import { cors } from './http/cors.js';
import { adminAccess } from './admin/admin-access.js';
import { DocumentGuard } from './limits/document-guard.js';
import { OperationGuard } from './limits/operation-guard.js';
import { playgroundHandler } from './playground/playground-handler.js';
import { CONSOLE_PATH, consoleHandler } from './console/console-handler.js';
import { fixFederationVariableCollection } from './supergraph/federation-fixes.js';
import { SubgraphDataSources, toWebSocketUrl } from './supergraph/data-sources.js';
import { SERVICE } from './supergraph/service-names.js';
import type { GatewayContext } from './supergraph/subgraph-data-source.js';
import { supergraphFromFile } from './supergraph/supergraph-file.js';
import { KeyBufferBudgets } from './subscriptions/buffered-bytes.js';
import { startGraphqlWsServer, type GraphqlWsServer } from './subscriptions/graphql-ws-server.js';
import { JOB_EVENT_RESUME_POLICY } from './subscriptions/resumable-operation.js';
import { SocketWriteBatching } from './subscriptions/socket-write-batching.js';
import { SubscriptionForwarder } from './subscriptions/subscription-forwarder.js';
import { SupergraphRuntime } from './subscriptions/supergraph-runtime.js';
import { UpstreamPool } from './subscriptions/upstream-pool.js';

export const GRAPHQL_PATH = '/graphql';
/** Within a burst of subscription events, frames held longer than this are written without waiting for its end. */
const DIRECT_WRITE_HOLD_MS = 2;

/**
 * The gateway's composition root, free of Nest: Redis, API keys, limits, the Apollo gateway over the
 * supergraph file, the subscription forwarder and the graphql-ws server. main.ts mounts `middleware`
 * before Nest's init, calls `attach` after listen, and `shutdown` when the app closes.
 */
export class GatewayRuntime {
  readonly redis: Redis;
  /** Subscribed to API key revocations (its own connection: subscriber mode). */
  private readonly keysSubscriber: Redis;
  private readonly keyCache: CachedApiKeyVerifier;
  private readonly server: ApolloServer<GatewayContext>;
  private readonly gateway: ApolloGateway;
  private readonly pool: UpstreamPool;
  private readonly authenticator: Authenticator;
  private readonly guard: OperationGuard;
  private readonly limiter: RateLimiter;
  /** Bounds every document before it costs anything, over HTTP and graphql-ws alike. */
  private readonly documentGuard: DocumentGuard;
  private readonly forwarder: SubscriptionForwarder;
  /** Client sockets' frames, batched per connection; flushed by the forwarder as it hands out events. */
  private readonly socketWrites = new SocketWriteBatching();
  private readonly dataSources: SubgraphDataSources;
  /** bull-board over the node queues (ADMIN_UI_ENABLED). */
  private readonly admin: AdminQueueBoard | null;
  private readonly metrics = createGatewayMetrics();
  /** Per-key subscription count shared by all replicas (Redis); heartbeat started here, stopped in shutdown. */
  private readonly subscriptionSlots: SharedSubscriptionSlots;
  /** Per-key count of open graphql-ws connections, shared the same way. */
  private readonly connectionSlots: SharedSubscriptionSlots;
  private readonly format: (f: GraphQLFormattedError, e: unknown) => GraphQLFormattedError;
  private runtime: SupergraphRuntime | null = null;
  private ws: GraphqlWsServer | null = null;
  private httpServer: Server | null = null;
  /** Responses of HTTP requests not yet closed, which the drain waits for (upgraded graphql-ws sockets are not requests). */
  private readonly inflight = new Set<ServerResponse>();
  private draining = false;
  private onIdle: (() => void) | null = null;

  /** `refuse`: how the app stops when production finds Redis evicting keys (main.ts: exit 78). */
  constructor(
    private readonly config: GatewayConfig,
    private readonly logger: Logger,
    refuse: (err: RedisEvictionPolicyError) => void,
  ) {
    const identitySecret = assertIdentitySecret(
      config.SWITCHYARD_IDENTITY_SECRET,
      config.production,
      config.BIND_HOST,
    );
    // Every Lua script this process runs is present and its includes resolve: fail at boot, not on a request.
    for (const scripts of [RATE_LIMIT_SCRIPTS, SUBSCRIPTION_SLOT_SCRIPTS]) scripts.check();
    this.redis = createRedis({ ...redisTarget(config), name: 'gateway', role: 'command', logger });
    // API keys, subscription slots and rate-limit counters live in Redis: checked at each connection
    watchEvictionPolicy(this.redis, { name: 'gateway', production: config.production, logger, refuse });
    this.subscriptionSlots = new SharedSubscriptionSlots(this.redis, { logger });
    this.connectionSlots = new SharedSubscriptionSlots(this.redis, { logger, redisKey: connectionSlotsKey });
    const keys = new ApiKeyStore(this.redis);
    this.keysSubscriber = createRedis({
      ...redisTarget(config),
      name: 'gateway-key-revocations',
      role: 'blocking',
      logger,
    });
    this.keyCache = new CachedApiKeyVerifier(keys, this.keysSubscriber, {
      ttlMs: config.API_KEY_CACHE_TTL_MS,
      maxEntries: config.API_KEY_CACHE_MAX_ENTRIES,
      ...loggedApiKeyCacheHooks(logger, (live) => this.metrics.keyCacheLive(live)),
    });
    this.authenticator = new Authenticator(this.keyCache);
    this.limiter = rateLimiter(
      this.redis,
      { perMinute: config.RATE_LIMIT_PER_MINUTE, burst: config.rateLimitBurst },
      config.RATE_LIMIT_LEASE_MS,
      logger,
    );
    this.guard = new OperationGuard(this.limiter, config.guardLimits, this.metrics.guard);
    this.documentGuard = new DocumentGuard(config.guardLimits, this.metrics.guard, {
      cacheBytes: config.DOCUMENT_CACHE_BYTES,
    });
    this.admin = config.adminUiEnabled
      ? new AdminQueueBoard({
          redis: redisTarget(config),
          logger,
          authenticator: this.authenticator,
          guard: this.guard,
        })
      : null;
    const log = (err: unknown) =>
      logger.error({ err: err instanceof Error ? err.message : String(err) }, 'graphql request failed');
    const unavailable = unavailableWhenDisconnected(this.redis);
    this.format = (f, e) => formatGatewayError(f, e, { production: config.production, log, unavailable });

    const urls = { [SERVICE.jobs]: config.jobsSubgraphUrl, [SERVICE.artifacts]: config.artifactsSubgraphUrl };
    this.dataSources = new SubgraphDataSources(
      urls,
      identitySecret,
      buildApiKeysSchema(keys, (id) => this.keyCache.forget(id)),
    );
    // @apollo/gateway otherwise exports usage data to Apollo's servers (and probes cloud metadata hosts).
    // Nothing leaves the deployment unless an operator opts in with APOLLO_TELEMETRY_DISABLED=false.
    process.env.APOLLO_TELEMETRY_DISABLED ??= 'true';
    fixFederationVariableCollection(); // before anything is planned
    this.gateway = new ApolloGateway({
      ...(config.SUPERGRAPH_INTROSPECT
        ? {
            supergraphSdl: new IntrospectAndCompose({
              // apikeys answers `_service { sdl }` in-process through its LocalGraphQLDataSource.
              subgraphs: [
                ...Object.entries(urls),
                [SERVICE.apiKeys, 'http://in-process.invalid/apikeys'],
              ].map(([name, url]) => ({ name: name!, url })),
              pollIntervalInMs: 10_000,
            }),
          }
        : {
            supergraphSdl: supergraphFromFile(config.SUPERGRAPH_PATH, logger, () =>
              this.metrics.reloadFailed(),
            ),
          }),
      buildService: ({ name, url }) => this.dataSources.get(name, url),
      logger: {
        debug: (m) => logger.debug(String(m)),
        info: (m) => logger.info(String(m)),
        warn: (m) => logger.warn(String(m)),
        error: (m) => logger.error(String(m)),
      },
    });
    this.gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => {
      this.runtime = new SupergraphRuntime(coreSupergraphSdl, config.SUBSCRIPTION_PLAN_CACHE_BYTES);
      logger.info({ subgraphs: this.runtime.serviceNames }, 'supergraph loaded');
    });

    this.pool = new UpstreamPool({
      urls: Object.fromEntries(Object.entries(urls).map(([n, u]) => [n, toWebSocketUrl(u)])),
      identitySecret,
      pingIntervalMs: config.WS_PING_MS,
      retryBaseMs: 200,
      retryMaxMs: 5_000,
      retryAttempts: 30,
      idleCloseMs: 5_000,
      events: this.metrics.pool,
    });
    const bufferedBytes =
      config.BUFFERED_BYTES_PER_KEY > 0 || config.BUFFERED_BYTES_TOTAL > 0
        ? new KeyBufferBudgets({ perKey: config.BUFFERED_BYTES_PER_KEY, total: config.BUFFERED_BYTES_TOTAL })
        : undefined;
    if (bufferedBytes) this.metrics.bufferedBytesFrom(() => bufferedBytes.total);
    this.forwarder = new SubscriptionForwarder({
      runtime: () => this.currentRuntime(),
      upstream: this.pool,
      dataSources: () => this.dataSources.all(),
      policy: JOB_EVENT_RESUME_POLICY,
      bufferCapacity: config.subscriberBuffer.capacity,
      bufferedBytes,
      shareEntityFetches: config.SUBSCRIPTION_FETCH_SHARING,
      flushDirectWrites: (burstEnded) =>
        burstEnded ? this.socketWrites.flush() : this.socketWrites.flushHeldLongerThan(DIRECT_WRITE_HOLD_MS),
      // a subscription's events are charged like queries: MAX_QUERY_COST of delivered selections per token
      charge: {
        take: (keyId, tokens) => this.guard.chargeDelivered(keyId, tokens),
        costPerToken: config.guardLimits.maxCost,
        maxBatch: this.guard.burst,
      },
      metrics: this.metrics.forwarder,
      logger,
    });

    this.server = new ApolloServer<GatewayContext>({
      gateway: this.gateway,
      introspection: config.introspection,
      includeStacktraceInErrorResponses: !config.production,
      formatError: this.format,
      // Apollo parses again what DocumentGuard admitted: the same token bound, and its own recursive-selection
      // guard (documents sent as persisted-query hashes skip the middleware).
      parseOptions: { maxTokens: config.MAX_QUERY_TOKENS },
      maxRecursiveSelections: config.MAX_RECURSIVE_SELECTIONS,
      plugins: [
        ApolloServerPluginLandingPageDisabled(),
        operationMetricsPlugin(this.metrics.operation),
        this.guardPlugin(),
      ],
      // Outside NODE_ENV=test Apollo would stop itself on SIGTERM and re-raise it, killing the process
      // (exit 143) before the drain in `shutdown`; bootstrapApp owns the signals.
      stopOnTerminationSignals: false,
    });
  }

  /** Loads the supergraph and starts Apollo; throws (the app exits) when the supergraph cannot load. */
  async start(): Promise<void> {
    // Not awaited: until the revocation channel is subscribed, keys are read from Redis per request.
    void this.keyCache.start();
    await this.server.start();
  }

  /** Express handlers for GRAPHQL_PATH (and the playground, the queue admin UI). */
  middleware(): { path: string; handlers: (RequestHandler | ErrorRequestHandler)[] }[] {
    const playground = this.config.playground
      ? [playgroundHandler({ graphqlPath: GRAPHQL_PATH, logger: this.logger })]
      : [];
    // Mounted before Nest's router: `/metrics` (served by the observability module) only for admin keys.
    const metricsGate = this.config.metricsRequireAdmin
      ? [
          {
            path: '/metrics',
            handlers: [
              adminAccess({
                authenticator: this.authenticator,
                guard: this.guard,
                outcome: (o) => {
                  if (o !== 'allowed') this.metrics.refused(`metrics_${o}`);
                },
              }),
            ],
          },
        ]
      : [];
    return [
      ...metricsGate,
      ...(this.config.playground ? [{ path: '/playground', handlers: playground }] : []),
      ...(this.config.CONSOLE
        ? [
            {
              path: CONSOLE_PATH,
              handlers: [
                consoleHandler({ logger: this.logger, storageOrigin: this.config.consoleStorageOrigin }),
              ],
            },
          ]
        : []),
      ...(this.admin ? [{ path: ADMIN_QUEUES_PATH, handlers: this.admin.handlers() }] : []),
      { path: GRAPHQL_PATH, handlers: this.graphqlSteps('express', playground) as RequestHandler[] },
    ];
  }

  /**
   * The plain JSON POSTs of GRAPHQL_PATH (bootstrapApp's `front`): the same checks as `middleware` mounts there,
   * in the same order, without express (a lean JSON body reader with express.json's limit and errors, Apollo
   * over node's request and response).
   */
  lane(): (Step | ErrorStep)[] {
    return this.graphqlSteps('lane', []);
  }

  /** What every GraphQL HTTP request passes, in order; `playground` answers some GETs (never a lane request). */
  private graphqlSteps(via: 'express' | 'lane', playground: RequestHandler[]): (Step | ErrorStep)[] {
    const context = async (req: IncomingMessage) => ({ identity: identityOf(req) });
    return [
      cors(this.config.CORS_ORIGINS),
      ...(playground as Step[]),
      authenticateRequest(this.authenticator, this.guard, this.format),
      via === 'lane'
        ? jsonBody(this.config.MAX_BODY_BYTES)
        : (graphqlBody(this.config.MAX_BODY_BYTES) as Step),
      bodyErrors(this.format),
      guardDocuments({
        guard: this.documentGuard,
        schema: () => {
          const runtime = this.currentRuntime();
          return { schema: runtime.apiGraphQLSchema, costs: runtime.costs };
        },
        introspection: this.config.introspection,
        format: this.format,
      }),
      via === 'lane'
        ? apolloHttp(this.server, context)
        : (expressMiddleware(this.server, { context: ({ req }) => context(req) }) as Step),
    ];
  }

  /** graphql-ws on the same HTTP server and path. */
  attach(httpServer: Server): void {
    this.httpServer = httpServer;
    httpServer.on('request', (_req, res) => {
      if (this.draining) closeAfter(res);
      this.inflight.add(res);
      res.once('close', () => {
        this.inflight.delete(res);
        if (this.inflight.size === 0) this.onIdle?.();
      });
    });
    this.ws = startGraphqlWsServer({
      httpServer,
      path: GRAPHQL_PATH,
      runtime: () => this.currentRuntime(),
      authenticator: this.authenticator,
      guard: this.guard,
      documentGuard: this.documentGuard,
      quota: new SubscriptionQuota(
        this.config.MAX_SUBSCRIPTIONS_PER_CONNECTION,
        this.config.MAX_SUBSCRIPTIONS_PER_KEY,
        this.subscriptionSlots,
        this.metrics.subscriptionQuota,
      ),
      connections: new ConnectionQuota(
        this.config.MAX_CONNECTIONS_PER_KEY,
        this.connectionSlots,
        this.metrics.connectionQuota,
      ),
      forwarder: this.forwarder,
      executeOperation: (request, identity) => this.execute(request, identity),
      introspection: this.config.introspection,
      pingIntervalMs: this.config.WS_PING_MS,
      maxPayloadBytes: this.config.MAX_BODY_BYTES,
      format: this.format,
      recheckKeysMs: 1_000,
      revocations: this.keyCache,
      writes: this.socketWrites,
      metrics: { connections: this.metrics.connections },
    });
  }

  readinessChecks() {
    return [
      { name: 'redis', check: () => pingRedis(this.redis, 1_000) },
      {
        name: 'supergraph',
        check: async () => {
          if (!this.runtime) throw new Error('supergraph not loaded');
        },
      },
    ];
  }

  /**
   * Drain HTTP (stop accepting; in-flight requests finish within the grace), then close graphql-ws
   * clients with 1001, then stop Apollo, the upstream sockets and Redis.
   */
  async shutdown(graceMs: number): Promise<void> {
    const server = this.httpServer;
    if (server?.listening) {
      // Stop accepting; the server's own close callback would also wait for the graphql-ws sockets.
      this.draining = true;
      for (const res of this.inflight) closeAfter(res);
      server.close();
      server.closeIdleConnections();
      if (this.inflight.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          this.onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      this.logger.info({ unfinished: this.inflight.size }, 'HTTP drained; closing graphql-ws clients (1001)');
    }
    await this.ws?.dispose();
    await this.subscriptionSlots.close();
    await this.connectionSlots.close();
    await this.limiter.close?.();
    server?.closeAllConnections();
    await this.server.stop();
    await this.pool.close();
    this.dataSources.close();
    await this.admin?.close(2_000);
    this.keyCache.close();
    await quitRedis(this.keysSubscriber, 2_000);
    await quitRedis(this.redis, 2_000);
  }

  private currentRuntime(): SupergraphRuntime {
    if (!this.runtime) throw gatewayError('UNAVAILABLE', 'the supergraph is not loaded yet');
    return this.runtime;
  }

  private async execute(
    request: { query: string; variables?: Record<string, unknown>; operationName?: string },
    identity: GatewayContext['identity'],
  ): Promise<ExecutionResult> {
    const response = await this.server.executeOperation(request, { contextValue: { identity } });
    if (response.body.kind !== 'single')
      return { errors: [gatewayError('BAD_USER_INPUT', 'incremental delivery is not supported')] };
    return response.body.singleResult as ExecutionResult;
  }

  /** Scopes and complexity of every HTTP operation; subscriptions belong on graphql-ws. */
  private guardPlugin(): ApolloServerPlugin<GatewayContext> {
    const guard = this.guard;
    // Apollo's API schema has no cost directives: the supergraph's, read once per load, are counted with it.
    const costs = () => this.runtime?.costs;
    return {
      async requestDidStart() {
        return {
          async didResolveOperation({ contextValue, document, operation, request, schema }) {
            if (!operation) return;
            if (!contextValue.identity)
              throw gatewayError('UNAUTHENTICATED', 'an API key is required: Authorization: Bearer <key>');
            if (operation.operation === 'subscription')
              throw gatewayError(
                'BAD_USER_INPUT',
                `subscriptions are served over graphql-ws (graphql-transport-ws) on ${GRAPHQL_PATH}`,
              );
            guard.check(contextValue.identity, schema, document, operation, request.variables, costs());
            // a batch (or aliased submits / uploads / validateGraphs) spends a token per item, as that many single calls would
            await guard.admitUnits(
              contextValue.identity,
              rateLimitUnits(document, operation, request.variables),
            );
          },
        };
      },
    };
  }
}

/**
 * While draining, an answer closes its connection: server.close() only stops new connections, and a busy
 * keep-alive one would go on carrying requests and hold the drain open until the grace runs out.
 */
function closeAfter(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
}
