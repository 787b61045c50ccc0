import { type DynamicModule, Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import { ObservabilityModule, type Logger } from '#libs/observability';
import type { ArtifactsSubgraphConfig } from './artifacts-config.js';
import { ArtifactsModule } from './artifacts.module.js';
import type { ArtifactsRuntime } from './artifacts-runtime.js';
import type { GraphqlHandler } from './graphql/graphql-handler.js';

/** The root module: wiring only (config, observability, the artifacts domain). */
@Module({})
export class AppModule {
  static forRoot(
    config: ArtifactsSubgraphConfig,
    logger: Logger,
    runtime: ArtifactsRuntime,
    graphql: GraphqlHandler,
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ObservabilityModule.forRoot({ service: 'artifacts-subgraph', logger }),
        ArtifactsModule.forRoot(runtime, graphql),
      ],
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
      global: true,
    };
  }
}
