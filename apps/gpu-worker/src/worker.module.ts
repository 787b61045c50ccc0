import {
  type DynamicModule,
  Inject,
  Injectable,
  Module,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnModuleInit,
} from '@nestjs/common';
import { ReadinessRegistry, type Logger } from '#libs/observability';
import type { RedisEvictionPolicyError } from '#libs/redis';
import type { WorkerConfig } from './worker-config.js';
import { createWorkerMetrics } from './worker-metrics.js';
import { WorkerRuntime, type WorkerLogger } from './worker-runtime.js';

/**
 * Ties the worker runtime to the Nest lifecycle: readiness checks at init, start after bootstrap (in the
 * background, so /health/live answers while runners boot), drain before shutdown.
 */
@Injectable()
class WorkerLifecycle implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(WorkerRuntime) private readonly runtime: WorkerRuntime,
    @Inject(ReadinessRegistry) private readonly readiness: ReadinessRegistry,
    @Inject('WORKER_LOGGER') private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    this.readiness.register({
      name: 'actors',
      check: async () => {
        const why = this.runtime.notReadyReason();
        if (why) throw new Error(why);
      },
    });
    this.readiness.register({ name: 'redis', check: () => this.runtime.pingRedis() });
  }

  onApplicationBootstrap(): void {
    this.runtime.start().catch((e: unknown) => {
      // Nothing runs yet that could be lost: say why and stop, the orchestrator restarts us.
      this.logger.fatal({ err: e instanceof Error ? e.message : String(e) }, 'worker failed to start');
      process.exit(1);
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
  }
}

@Module({})
export class WorkerModule {
  static forRoot(
    config: WorkerConfig,
    logger: Logger,
    refuse: (err: RedisEvictionPolicyError) => void,
  ): DynamicModule {
    return {
      module: WorkerModule,
      providers: [
        { provide: 'WORKER_LOGGER', useValue: logger },
        {
          provide: WorkerRuntime,
          useFactory: () =>
            new WorkerRuntime(config, logger as unknown as WorkerLogger, createWorkerMetrics(), refuse),
        },
        WorkerLifecycle,
      ],
      exports: [WorkerRuntime],
    };
  }
}
