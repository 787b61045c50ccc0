import '#libs/tracing'; // first: OpenTelemetry must be in place before the modules below load
import 'reflect-metadata';
import { createLogger } from '#libs/observability';
import { bootstrapApp, configOrExit, refuseToRun } from '#libs/nest-app';
import { AppModule } from './app.module.js';
import { loadWorkerConfig } from './worker-config.js';

const SERVICE = 'gpu-worker';

const config = configOrExit(() => loadWorkerConfig(), SERVICE);
const logger = createLogger(SERVICE, config.LOG_LEVEL);
await bootstrapApp({
  service: SERVICE,
  logger,
  // a Redis that evicts keys (maxmemory-policy) stops production at the first connection (exit 78)
  module: AppModule.forRoot(config, logger, refuseToRun(SERVICE, logger)),
  port: config.WORKER_HEALTH_PORT,
  host: config.BIND_HOST,
  // The drain keeps its own budget (WORKER_DRAIN_BUDGET_MS); the hard exit is only a backstop after it.
  shutdownGraceMs: config.compiled.drain.budgetMs + 2_000,
  requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
});
