import type { Redis } from 'ioredis';
import { REDIS_KEYS } from '#libs/contracts';

/**
 * Whether the worker's manifest key is there: a worker renews it every heartbeat with a TTL
 * (WORKER_MANIFEST_TTL_MS) and deletes it when it drains, so a missing key means a worker that stopped or died.
 */
export async function workerAlive(redis: Redis, id: string): Promise<boolean> {
  return (await redis.exists(REDIS_KEYS.worker(id))) === 1;
}
