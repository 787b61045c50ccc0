import '#libs/tracing'; // first: OpenTelemetry must be in place before the modules below load
import 'reflect-metadata';
import { createLogger } from '#libs/observability';
import { bootstrapApp, configOrExit } from '#libs/nest-app';
import { AppModule } from './app.module.js';
import { loadWorkerConfig } from './worker-config.js';

const SERVICE = 'gpu-worker';

const config = configOrExit(() => loadWorkerConfig(), SERVICE);
const logger = createLogger(SERVICE, config.LOG_LEVEL);
await bootstrapApp({
  service: SERVICE,
  logger,
  module: AppModule.forRoot(config, logger),
  port: config.WORKER_HEALTH_PORT,
  host: config.BIND_HOST,
  // The drain keeps its own budget (WORKER_DRAIN_BUDGET_MS); the hard exit is only a backstop after it.
  shutdownGraceMs: config.compiled.drain.budgetMs + 2_000,
});
