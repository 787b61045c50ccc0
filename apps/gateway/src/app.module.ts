import { type DynamicModule, Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import { ObservabilityModule, type Logger } from '#libs/observability';
import type { AppConfig } from './main.js';

/** The root module: wiring only (config, observability, the app's domain modules). */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [ObservabilityModule.forRoot({ service: 'gateway', logger })],
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
      global: true,
    };
  }
}
