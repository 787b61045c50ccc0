import '#libs/tracing'; // first: OpenTelemetry must be in place before the modules below load
import '#libs/graphql-mode'; // before anything loads graphql: its production-mode type checks (see there)
import 'reflect-metadata';
import { createLogger } from '#libs/observability';
import { graphqlLane } from '#libs/graphql-http';
import { bootstrapApp, configOrExit, refuseToRun } from '#libs/nest-app';
import { unavailableWhenDisconnected } from '#libs/errors';
import { AppModule } from './app.module.js';
import { loadArtifactsSubgraphConfig } from './artifacts-config.js';
import { createArtifactsMetrics } from './artifacts-metrics.js';
import { ArtifactsRuntime } from './artifacts-runtime.js';
import { createGraphqlHandler } from './graphql/graphql-handler.js';

const SERVICE = 'artifacts-subgraph';

const config = configOrExit(loadArtifactsSubgraphConfig, SERVICE);
const logger = createLogger(SERVICE, config.LOG_LEVEL);
// Refuses missing/default S3 credentials and identity secret in production mode (exit 78), and a Redis that
// evicts keys (maxmemory-policy) at the first connection.
const runtime = configOrExit(
  () => new ArtifactsRuntime(config, logger, createArtifactsMetrics(), refuseToRun(SERVICE, logger)),
  SERVICE,
);
const graphql = await createGraphqlHandler(runtime.service, {
  authenticator: runtime.authenticator,
  production: runtime.production,
  unavailable: unavailableWhenDisconnected(runtime.redis),
  log: (err) =>
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'graphql request failed'),
});
await bootstrapApp({
  service: SERVICE,
  logger,
  module: AppModule.forRoot(config, logger, runtime, graphql),
  port: config.ARTIFACTS_SUBGRAPH_PORT,
  host: config.BIND_HOST,
  shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
  requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
  // Apollo must be mounted before Nest's router is initialised (STACK.md).
  beforeInit: async (app) => {
    app.use('/graphql', ...graphql.middleware);
  },
  // plain JSON POSTs of /graphql: the same steps without express
  front: graphqlLane('/graphql', graphql.lane),
});
