import '#libs/tracing'; // first: OpenTelemetry must be in place before the modules below load
import 'reflect-metadata';
import { createLogger } from '#libs/observability';
import { bootstrapApp, configOrExit } from '#libs/nest-app';
import { AppModule } from './app.module.js';
import { drainBudgetMs, loadWorkerConfig } from './worker-config.js';

const SERVICE = 'gpu-worker';

const config = configOrExit(() => loadWorkerConfig(), SERVICE);
const logger = createLogger(SERVICE, config.LOG_LEVEL);
await bootstrapApp({
  service: SERVICE,
  logger,
  module: AppModule.forRoot(config, logger),
  port: config.WORKER_HEALTH_PORT,
  host: config.BIND_HOST,
  // A drain must be able to finish (grace, then stop and release) before the bootstrap's hard exit.
  shutdownGraceMs: Math.max(config.SHUTDOWN_GRACE_MS, drainBudgetMs(config) + 5_000),
});
