import { type DynamicModule, Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import { ObservabilityModule, type Logger } from '#libs/observability';
import type { JobsSubgraphConfig } from './jobs-config.js';
import { JobsModule } from './jobs.module.js';
import type { JobsRuntime } from './jobs-runtime.js';
import type { JobsGraphql } from './graphql/graphql-server.js';

/** The root module: wiring only (config, observability, the jobs domain). */
@Module({})
export class AppModule {
  static forRoot(
    config: JobsSubgraphConfig,
    logger: Logger,
    runtime: JobsRuntime,
    graphql: JobsGraphql,
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ObservabilityModule.forRoot({ service: 'jobs-subgraph', logger }),
        JobsModule.forRoot(runtime, graphql),
      ],
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
      global: true,
    };
  }
}
