export * from './create-redis.js';
export * from './redis-target.js';
export type { Redis } from 'ioredis';
export * from './tick-batcher.js';
export * from './lua-scripts.js';
export * from './redis-clock.js';
export * from './leader-lease.js';
export * from './leader-loop.js';
