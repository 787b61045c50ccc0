import { startRedis, tempDir, type RedisHandle } from '#libs/testing';
import { SchedulerStandIn } from './scheduler-stand-in.js';
import { startWorker, type WorkerHandle } from './start-worker.js';

/** What most worker scenarios run against: their own Redis, the scheduler's side of the wire, one worker. */
export interface WorkerFixture {
  redis: RedisHandle;
  sched: SchedulerStandIn;
  worker: WorkerHandle;
  /** Stops the worker, then the stand-in, then Redis: each step runs even when an earlier one throws. */
  stop(): Promise<void>;
}

/**
 * Starts Redis, a SchedulerStandIn on it and worker `id` with REDIS_URL and a fresh SWITCHYARD_DATA_DIR
 * (both overridable by `env`). If a step fails, what was already started is stopped before the error is
 * rethrown: the caller never got a handle to stop it with.
 */
export async function workerFixture(
  id: string,
  env: Record<string, string> = {},
  opts: { waitReady?: boolean } = {},
): Promise<WorkerFixture> {
  const redis = await startRedis();
  let sched: SchedulerStandIn | undefined;
  let worker: WorkerHandle | undefined;
  const stop = () => stopInOrder([() => worker?.stop(), () => sched?.close(), () => redis.stop()]);
  try {
    sched = new SchedulerStandIn(redis.url);
    worker = await startWorker(
      id,
      { REDIS_URL: redis.url, ...env, SWITCHYARD_DATA_DIR: env.SWITCHYARD_DATA_DIR ?? tempDir(id) },
      opts.waitReady ?? true,
    );
  } catch (e) {
    await stop().catch(() => undefined); // the start error is the one worth reporting
    throw e;
  }
  return { redis, sched, worker, stop };
}

async function stopInOrder(steps: Array<() => Promise<unknown> | undefined>): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'stopping the worker fixture');
}
