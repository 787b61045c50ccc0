import { type DynamicModule, Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';
import { enableDefaultMetrics } from './metrics.js';
import { ReadinessRegistry } from './readiness.js';
import type { Logger } from 'pino';

export const LOGGER = Symbol.for('switchyard.logger');

/** Health (/health/live, /health/ready), metrics (/metrics) and the app's logger, for every app. */
@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(opts: { service: string; logger: Logger }): DynamicModule {
    enableDefaultMetrics(opts.service);
    return {
      module: ObservabilityModule,
      imports: [TerminusModule.forRoot({ logger: false, errorLogStyle: 'json' })],
      controllers: [HealthController],
      providers: [ReadinessRegistry, { provide: LOGGER, useValue: opts.logger }],
      exports: [ReadinessRegistry, LOGGER],
    };
  }
}
