import '#libs/tracing'; // first: OpenTelemetry must be in place before the modules below load
import 'reflect-metadata';
import { loadConfig, portsEnv, runtimeEnv, redisEnv } from '#libs/config';
import { createLogger } from '#libs/observability';
import { bootstrapApp, configOrExit } from '#libs/nest-app';
import { AppModule } from './app.module.js';

const SERVICE = 'jobs-subgraph';
const appEnv = { ...runtimeEnv, ...redisEnv, ...portsEnv };
export type AppConfig = ReturnType<typeof loadAppConfig>;
const loadAppConfig = () => loadConfig(appEnv);

const config = configOrExit(loadAppConfig, SERVICE);
const logger = createLogger(SERVICE, config.LOG_LEVEL);
await bootstrapApp({
  service: SERVICE,
  logger,
  module: AppModule.forRoot(config, logger),
  port: config.JOBS_SUBGRAPH_PORT,
  host: config.BIND_HOST,
  shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
});
