import { type DynamicModule, Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import { ObservabilityModule, type Logger } from '#libs/observability';
import type { GatewayConfig } from './gateway-config.js';
import { GatewayModule } from './gateway.module.js';
import type { GatewayRuntime } from './gateway-runtime.js';

/** The root module: wiring only (config, observability, the gateway). */
@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig, logger: Logger, runtime: GatewayRuntime): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ObservabilityModule.forRoot({ service: 'gateway', logger }),
        GatewayModule.forRoot(runtime, config.SHUTDOWN_GRACE_MS),
      ],
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
      global: true,
    };
  }
}
