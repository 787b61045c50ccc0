import {
  type DynamicModule,
  Inject,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ReadinessRegistry } from '#libs/observability';
import { ArtifactsRuntime } from './artifacts-runtime.js';
import type { GraphqlHandler } from './graphql/graphql-handler.js';

const GRAPHQL_HANDLER = Symbol.for('switchyard.artifacts.graphql');

/**
 * Wires the artifacts runtime into Nest's lifecycle: readiness checks and start (bucket bootstrap,
 * preflight, sweeps) on init; GraphQL, sweeps and Redis closed on shutdown.
 */
@Module({})
export class ArtifactsModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(ArtifactsRuntime) private readonly runtime: ArtifactsRuntime,
    @Inject(GRAPHQL_HANDLER) private readonly graphql: GraphqlHandler,
    @Inject(ReadinessRegistry) private readonly readiness: ReadinessRegistry,
  ) {}

  static forRoot(runtime: ArtifactsRuntime, graphql: GraphqlHandler): DynamicModule {
    return {
      module: ArtifactsModule,
      providers: [
        { provide: ArtifactsRuntime, useValue: runtime },
        { provide: GRAPHQL_HANDLER, useValue: graphql },
      ],
      exports: [ArtifactsRuntime],
    };
  }

  async onModuleInit(): Promise<void> {
    for (const check of this.runtime.readiness()) this.readiness.register(check);
    await this.runtime.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.graphql.stop();
    await this.runtime.stop();
  }
}
