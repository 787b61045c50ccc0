import { type DynamicModule, Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import { ObservabilityModule, type Logger } from '#libs/observability';
import type { RedisEvictionPolicyError } from '#libs/redis';
import type { WorkerConfig } from './worker-config.js';
import { WorkerModule } from './worker.module.js';

/** The root module: wiring only (config, observability, the worker runtime). */
@Module({})
export class AppModule {
  static forRoot(
    config: WorkerConfig,
    logger: Logger,
    refuse: (err: RedisEvictionPolicyError) => void,
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ObservabilityModule.forRoot({ service: 'gpu-worker', logger }),
        WorkerModule.forRoot(config, logger, refuse),
      ],
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
      global: true,
    };
  }
}
