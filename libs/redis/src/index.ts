export * from './create-redis.js';
export type { Redis } from 'ioredis';
export * from './tick-batcher.js';
