import type { Redis } from 'ioredis';

/**
 * The Redis server clock in epoch ms: the one clock every replica agrees on (Lua scripts use the same through
 * `--@include redis-now`).
 */
export async function redisNowMs(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}
