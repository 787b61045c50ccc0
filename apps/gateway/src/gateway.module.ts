import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Inject,
  Module,
  type OnModuleInit,
} from '@nestjs/common';
import { ReadinessRegistry } from '#libs/observability';
import { GatewayRuntime } from './gateway-runtime.js';

const SHUTDOWN_GRACE = Symbol.for('switchyard.gateway.shutdownGraceMs');

/**
 * Wires the gateway runtime into Nest's lifecycle: readiness checks on init; on shutdown (before Nest
 * closes the HTTP server) drain HTTP, close graphql-ws clients with 1001, then the upstreams and Redis.
 */
@Module({})
export class GatewayModule implements OnModuleInit, BeforeApplicationShutdown {
  constructor(
    @Inject(GatewayRuntime) private readonly runtime: GatewayRuntime,
    @Inject(ReadinessRegistry) private readonly readiness: ReadinessRegistry,
    @Inject(SHUTDOWN_GRACE) private readonly graceMs: number,
  ) {}

  static forRoot(runtime: GatewayRuntime, shutdownGraceMs: number): DynamicModule {
    return {
      module: GatewayModule,
      providers: [
        { provide: GatewayRuntime, useValue: runtime },
        { provide: SHUTDOWN_GRACE, useValue: shutdownGraceMs },
      ],
      exports: [GatewayRuntime],
    };
  }

  onModuleInit(): void {
    for (const check of this.runtime.readinessChecks()) this.readiness.register(check);
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Leave a margin of the app's grace period for the hooks after this one.
    await this.runtime.shutdown(Math.max(1_000, this.graceMs - 2_000));
  }
}
