import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { REDIS_PREFIX } from '#libs/contracts';

export const SWEEP_LEASE_KEY = `${REDIS_PREFIX}:artifacts:sweep-leader`;

// Renew or release only a lease we still hold: one that expired and went to another replica stays theirs.
const ACQUIRE_OR_RENEW = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Which replica runs the artifact sweeps: a Redis key with a TTL, held by one replica id and renewed on
 * each tick. The sweeps are safe if two ever overlap; the lease only keeps replicas from doing the same
 * work twice.
 */
export class SweepLease {
  readonly holderId = randomUUID();

  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
    private readonly key: string = SWEEP_LEASE_KEY,
  ) {}

  /** True when this replica holds the lease (now extended by the TTL). */
  async acquire(): Promise<boolean> {
    return (await this.redis.eval(ACQUIRE_OR_RENEW, 1, this.key, this.holderId, String(this.ttlMs))) === 1;
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key, this.holderId);
  }
}
