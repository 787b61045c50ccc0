import '#libs/graphql-mode'; // before anything loads graphql: its production-mode type checks (see there)
import 'reflect-metadata';
import type { Server } from 'node:http';
import { loadTls } from '#libs/config';
import { createLogger } from '#libs/observability';
import { graphqlLane } from '#libs/graphql-http';
import { bootstrapApp, configOrExit, refuseToRun } from '#libs/nest-app';
import { AppModule } from './app.module.js';
import { loadGatewayConfig } from './gateway-config.js';
import { GRAPHQL_PATH, GatewayRuntime } from './gateway-runtime.js';

const SERVICE = 'gateway';

const config = configOrExit(loadGatewayConfig, SERVICE);
const logger = createLogger(SERVICE, config.LOG_LEVEL);
if (config.subscriberBuffer.deprecation) logger.warn(config.subscriberBuffer.deprecation);
// Refuses a missing/default identity secret in production mode (exit 78), and a Redis that evicts keys
// (maxmemory-policy) at the first connection.
const runtime = configOrExit(() => new GatewayRuntime(config, logger, refuseToRun(SERVICE, logger)), SERVICE);
try {
  await runtime.start();
} catch (e) {
  logger.fatal(
    { err: e instanceof Error ? e.message : String(e), supergraph: config.SUPERGRAPH_PATH },
    'cannot load the supergraph',
  );
  process.exit(1);
}
await bootstrapApp({
  service: SERVICE,
  logger,
  module: AppModule.forRoot(config, logger, runtime),
  port: config.GATEWAY_PORT,
  tls: configOrExit(() => loadTls(config), SERVICE),
  host: config.BIND_HOST,
  shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
  requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
  // Apollo must be mounted before Nest's router is initialised (STACK.md).
  beforeInit: async (app) => {
    for (const { path, handlers } of runtime.middleware()) app.use(path, ...handlers);
  },
  // plain JSON POSTs of /graphql: the same checks without express
  front: graphqlLane(GRAPHQL_PATH, runtime.lane()),
  afterListen: async (app) => runtime.attach(app.getHttpServer() as Server),
});
