import '#libs/tracing'; // first: OpenTelemetry must be in place before the modules below load
import '#libs/graphql-mode'; // before anything loads graphql: its production-mode type checks (see there)
import 'reflect-metadata';
import type { Server } from 'node:http';
import { createLogger } from '#libs/observability';
import { graphqlLane } from '#libs/graphql-http';
import { bootstrapApp, configOrExit, refuseToRun } from '#libs/nest-app';
import { AppModule } from './app.module.js';
import { loadJobsSubgraphConfig } from './jobs-config.js';
import { JobsRuntime } from './jobs-runtime.js';
import { createJobsGraphql } from './graphql/graphql-server.js';

const SERVICE = 'jobs-subgraph';

const config = configOrExit(loadJobsSubgraphConfig, SERVICE);
const logger = createLogger(SERVICE, config.LOG_LEVEL);
// A bad template, missing Lua script or (in production) a missing identity secret stops here (exit 78).
// Redis evicting keys (maxmemory-policy) stops production at the first connection, also exit 78.
const runtime = configOrExit(() => new JobsRuntime(config, logger, refuseToRun(SERVICE, logger)), SERVICE);
const graphql = await createJobsGraphql(runtime.service, {
  authenticator: runtime.authenticator,
  production: runtime.production,
  unavailable: runtime.unavailable,
  subscriptionQuota: runtime.subscriptionQuota,
  connectionQuota: runtime.connectionQuota,
  log: (err) =>
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'graphql request failed'),
});
await bootstrapApp({
  service: SERVICE,
  logger,
  module: AppModule.forRoot(config, logger, runtime, graphql),
  port: config.JOBS_SUBGRAPH_PORT,
  host: config.BIND_HOST,
  shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
  requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
  // our gateway, the usual caller, logs and measures every client operation, and a job's events record what a
  // submit did: a line per answered request only at debug (4xx/5xx and cut-off requests still at info)
  accessLog: { successLevel: 'debug' },
  // Apollo must be mounted before Nest's router is initialised (STACK.md)
  beforeInit: async (app) => {
    app.use('/graphql', ...graphql.middleware);
  },
  // plain JSON POSTs of /graphql: the same steps without express
  front: graphqlLane('/graphql', graphql.lane),
  // graphql-ws shares the HTTP server and the /graphql path
  afterListen: async (app) => {
    graphql.attachWebSocket(app.getHttpServer() as Server);
  },
});
