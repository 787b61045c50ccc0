import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ArtifactRepository, ObjectStore } from '#libs/storage';
import { tempDir } from '#libs/testing';
import { defaultRunnerEntry } from '../../runner/runner-entry.js';
import { planActors } from '../../supervisor/actor-plan.js';
import type { WorkerMetrics } from '../../worker-metrics.js';
import type { NodeActorOptions } from '../node-actor.js';
import { ReportSink } from '../report-sink.js';
import { TenantGuard } from '../tenant-guard.js';

export interface TestLogger {
  debug(o: object, m: string): void;
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

/**
 * The options of one real CPU actor for integration specs: a real runner with the test tasks (test.sleep, …),
 * real Redis (the spec's) and BullMQ, no artifact store (the test tasks used here make no artifacts), short
 * timings. `overrides` replace whole fields.
 */
export function testActorOptions(o: {
  workerId: string;
  redisUrl: string;
  /** The shared command connection (reports, preflight reads). */
  client: Redis;
  queue: Queue;
  metrics: WorkerMetrics;
  logger: TestLogger;
  overrides?: Partial<NodeActorOptions>;
}): NodeActorOptions {
  const [spec] = planActors(o.workerId, [], 1);
  return {
    spec: spec!,
    workerId: o.workerId,
    decideRestart: () => 'restart',
    onRecovered: () => undefined,
    onChange: () => undefined,
    onRunnerReady: () => undefined,
    redis: o.client,
    createWorkerConnection: () => new Redis(o.redisUrl, { maxRetriesPerRequest: null }),
    closeConnection: async (r) => r.disconnect(),
    queue: o.queue,
    reports: new ReportSink(o.client, { retryWindowMs: 5_000 }),
    leaseSliceMs: 200,
    // never reached (no artifacts): a real repository over an unused endpoint
    artifacts: new ArtifactRepository(
      o.client,
      new ObjectStore(
        { endpoint: 'http://127.0.0.1:9', accessKey: 'unused', secretKey: 'unused', bucket: 'unused' },
        o.logger,
      ),
      o.logger,
    ),
    runner: {
      entry: defaultRunnerEntry(),
      env: { ...process.env, REDIS_URL: o.redisUrl },
      settings: {
        logLevel: 'warn',
        heartbeatIntervalMs: 1_000,
        testTasks: true,
        commandTaskUser: { user: 'nobody', uidBase: 0 },
      },
      bootTimeoutMs: 30_000,
      killGraceMs: 500,
      logger: o.logger,
    },
    workRoot: tempDir('actor'),
    heartbeatTimeoutMs: 5_000,
    cancelGraceMs: 1_000,
    redisRetryWindowMs: 5_000,
    restartBackoff: { baseMs: 100, maxMs: 500 },
    quarantineCooldownMs: 60_000,
    tenants: new TenantGuard(o.client, {
      killThreshold: 0,
      windowMs: 60_000,
      throttleMs: 60_000,
      logger: o.logger,
      metrics: o.metrics,
    }),
    bullmq: { lockDurationMs: 5_000, stalledIntervalMs: 2_000, closeTimeoutMs: 1_000 },
    watchdog: { intervalMs: 300, stallMs: 1_500 },
    logger: o.logger,
    metrics: o.metrics,
    ...o.overrides,
  };
}
