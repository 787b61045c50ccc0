import type { Redis } from 'ioredis';
import { REDIS_PREFIX } from '#libs/contracts';
import { defineScripts } from '#libs/redis';

/** Per-key bucket state (hash: tokens, ts). Shared by the gateway and the subgraphs (api-key mode). */
export const rateLimitKey = (subject: string) => `${REDIS_PREFIX}:ratelimit:${subject}`;

/** The bucket step (lua/takeTokens-1.lua): timed by the Redis server clock so every replica agrees. */
export const RATE_LIMIT_SCRIPTS = defineScripts({
  label: 'rate limit',
  dir: new URL('./lua/', import.meta.url),
  names: ['takeTokens'] as const,
});

/** {allowed 0|1, tokens leased, tokens left (floor), retry ms}: see lua/takeTokens-1.lua. */
export type BucketStep = [allowed: number, leased: number, left: number, retryMs: number];

/** One step of the per-key bucket: gives back `refund`, takes `cost`, leases up to `want` more. */
export async function stepBucket(
  redis: Redis,
  subject: string,
  policy: RateLimitPolicy,
  step: { cost: number; want?: number; refund?: number },
): Promise<BucketStep> {
  return (await RATE_LIMIT_SCRIPTS.run(
    redis,
    'takeTokens',
    [rateLimitKey(subject)],
    [policy.burst, policy.perMinute / 60_000, step.cost, step.want ?? 0, step.refund ?? 0],
  )) as BucketStep;
}

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
    readonly policy: RateLimitPolicy,
  ) {
    if (!(policy.perMinute > 0) || !(policy.burst >= 1))
      throw new Error('rate limit needs perMinute > 0 and burst >= 1');
  }

  async take(subject: string, cost = 1): Promise<RateDecision> {
    const [allowed, , remaining, retryMs] = await stepBucket(this.redis, subject, this.policy, { cost });
    return {
      allowed: allowed === 1,
      remaining,
      retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(retryMs / 1000)),
    };
  }
}
