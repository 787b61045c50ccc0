export * from './create-redis.js';
export * from './redis-target.js';
export type { Redis } from 'ioredis';
export * from './tick-batcher.js';
