import { type DynamicModule, Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import { ObservabilityModule, type Logger } from '#libs/observability';
import type { WorkerConfig } from './worker-config.js';
import { WorkerModule } from './worker.module.js';

/** The root module: wiring only (config, observability, the worker runtime). */
@Module({})
export class AppModule {
  static forRoot(config: WorkerConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ObservabilityModule.forRoot({ service: 'gpu-worker', logger }),
        WorkerModule.forRoot(config, logger),
      ],
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
      global: true,
    };
  }
}
