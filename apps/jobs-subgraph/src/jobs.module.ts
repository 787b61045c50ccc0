import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Inject,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ReadinessRegistry } from '#libs/observability';
import { JobsRuntime } from './jobs-runtime.js';
import type { JobsGraphql } from './graphql/graphql-server.js';

const JOBS_GRAPHQL = Symbol.for('switchyard.jobs.graphql');

/**
 * Wires the jobs runtime into Nest's lifecycle: readiness and start (report consumer, leader loops) on init;
 * subscriptions closed before the HTTP server stops; scheduler loops and Redis closed last.
 */
@Module({})
export class JobsModule implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(JobsRuntime) private readonly runtime: JobsRuntime,
    @Inject(JOBS_GRAPHQL) private readonly graphql: JobsGraphql,
    @Inject(ReadinessRegistry) private readonly readiness: ReadinessRegistry,
  ) {}

  static forRoot(runtime: JobsRuntime, graphql: JobsGraphql): DynamicModule {
    return {
      module: JobsModule,
      providers: [
        { provide: JobsRuntime, useValue: runtime },
        { provide: JOBS_GRAPHQL, useValue: graphql },
      ],
      exports: [JobsRuntime],
    };
  }

  onModuleInit(): void {
    for (const check of this.runtime.readiness()) this.readiness.register(check);
    this.runtime.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.graphql.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
  }
}
