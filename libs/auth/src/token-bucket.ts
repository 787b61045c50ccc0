import type { Redis } from 'ioredis';
import { REDIS_PREFIX } from '#libs/contracts';

/** Per-key bucket state (hash: tokens, ts). Shared by the gateway and the subgraphs (api-key mode). */
export const rateLimitKey = (subject: string) => `${REDIS_PREFIX}:ratelimit:${subject}`;

/**
 * Token bucket in one Lua step, timed by the Redis server clock so every gateway and subgraph replica agrees.
 * KEYS[1] bucket; ARGV: capacity, refill per ms, cost. Returns {allowed 0|1, tokens left (floor), retry ms}.
 */
const TAKE_LUA = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return {allowed, math.floor(tokens), retry}
`;

export interface RateLimitPolicy {
  /** Sustained rate. */
  perMinute: number;
  /** Bucket size: how many requests may come at once after a quiet period. */
  burst: number;
}

export interface RateDecision {
  allowed: boolean;
  remaining: number;
  /** Whole seconds until the request would be allowed (0 when allowed). */
  retryAfterSeconds: number;
}

export class TokenBucketLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly policy: RateLimitPolicy,
  ) {
    if (!(policy.perMinute > 0) || !(policy.burst >= 1))
      throw new Error('rate limit needs perMinute > 0 and burst >= 1');
  }

  async take(subject: string, cost = 1): Promise<RateDecision> {
    const ratePerMs = this.policy.perMinute / 60_000;
    const [allowed, remaining, retryMs] = (await this.redis.eval(
      TAKE_LUA,
      1,
      rateLimitKey(subject),
      this.policy.burst,
      ratePerMs,
      cost,
    )) as [number, number, number];
    return {
      allowed: allowed === 1,
      remaining,
      retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(retryMs / 1000)),
    };
  }
}
