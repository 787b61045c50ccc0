import type { Redis } from 'ioredis';
import { stepBucket, TokenBucketLimiter, type RateDecision, type RateLimitPolicy } from './token-bucket.js';

/** What a caller of the per-key bucket needs (TokenBucketLimiter and LeasedTokenBucket both are one). */
export interface RateLimiter {
  readonly policy: RateLimitPolicy;
  take(subject: string, cost?: number): Promise<RateDecision>;
  /** Gives back what it holds (shutdown). */
  close?(): Promise<void>;
}

export interface LeaseOptions {
  /** How long a replica may hold tokens it took in advance before it gives back what it did not spend. */
  leaseMs: number;
  /** Tokens a replica may hold in advance per key (default: 10 % of the burst, rounded down). */
  maxLease?: number;
  onError?: (err: unknown) => void;
}

/** The per-key limiter of the gateway and the subgraphs: leased when `leaseMs` > 0 (RATE_LIMIT_LEASE_MS), else one Redis step per request. */
export function rateLimiter(
  redis: Redis,
  policy: RateLimitPolicy,
  leaseMs: number,
  logger: { warn(obj: object, msg: string): void },
): RateLimiter {
  if (leaseMs <= 0) return new TokenBucketLimiter(redis, policy);
  return new LeasedTokenBucket(redis, policy, {
    leaseMs,
    onError: (err) =>
      logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'rate limit: unspent tokens not given back (the key is stricter for a moment)',
      ),
  });
}

interface Lease {
  /** Tokens taken from the bucket and not spent yet. */
  tokens: number;
  /** Local clock (ms); past it the tokens are given back instead of spent. */
  expiresAt: number;
  /** Spent since `since`: the key's recent rate, which sizes the next lease. */
  spent: number;
  since: number;
  /** What the bucket held after the last step (for `remaining`). */
  remote: number;
  /** The step in flight for this key; others wait for it instead of sending their own. */
  fetching: Promise<void> | null;
}

/**
 * The per-key token bucket (the same Redis hash and Lua clock as TokenBucketLimiter, so gateway replicas and the
 * subgraphs share one allowance) without a Redis round trip per request: when a key is busy, its step takes the
 * request's tokens plus a lease sized to the key's recent rate over `leaseMs` (at most `maxLease`), and the
 * following requests spend the lease locally. Tokens still held after `leaseMs` go back to the bucket.
 *
 * Every admitted request spent a token that came out of the one bucket, so replicas together never admit more
 * than the limit (the only slack: a leased token lets the bucket refill meanwhile instead of sitting full, at
 * most perMinute × leaseMs / 60 000 tokens per lease). The cost is the other way: tokens leased by one replica
 * are not available to another for at most `leaseMs`. A key's first request, a slow key (fewer than one request
 * per lease period) and any key with a burst under 10 go to Redis per request, exactly as before. Requests of one
 * key that find the lease empty while a step is in flight wait for that step rather than each sending one.
 */
export class LeasedTokenBucket implements RateLimiter {
  private readonly leases = new Map<string, Lease>();
  private readonly maxLease: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    readonly policy: RateLimitPolicy,
    private readonly options: LeaseOptions,
  ) {
    if (!(policy.perMinute > 0) || !(policy.burst >= 1))
      throw new Error('rate limit needs perMinute > 0 and burst >= 1');
    if (!(options.leaseMs > 0)) throw new Error('leaseMs must be positive');
    this.maxLease = Math.max(0, Math.floor(options.maxLease ?? policy.burst / 10));
    this.sweeper = setInterval(() => this.sweep(), options.leaseMs);
    this.sweeper.unref();
  }

  async take(subject: string, cost = 1): Promise<RateDecision> {
    for (;;) {
      const now = Date.now();
      let lease = this.leases.get(subject);
      if (!lease) {
        lease = { tokens: 0, expiresAt: 0, spent: 0, since: now, remote: 0, fetching: null };
        this.leases.set(subject, lease);
      }
      if (lease.tokens >= cost && now < lease.expiresAt) {
        lease.tokens -= cost;
        lease.spent += cost;
        return { allowed: true, remaining: lease.remote + lease.tokens, retryAfterSeconds: 0 };
      }
      if (lease.fetching) {
        await lease.fetching;
        continue;
      }
      return this.step(subject, lease, cost, now);
    }
  }

  /** Gives every unspent token back (shutdown). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const refunds: Promise<unknown>[] = [];
    for (const [subject, lease] of this.leases) {
      if (lease.tokens > 0 && !lease.fetching) refunds.push(this.refund(subject, lease));
    }
    this.leases.clear();
    await Promise.allSettled(refunds);
  }

  /** One bucket step for `cost`: gives back what the lease still holds, takes a new lease with the request. */
  private async step(subject: string, lease: Lease, cost: number, now: number): Promise<RateDecision> {
    const refund = lease.tokens;
    lease.tokens = 0;
    const elapsed = Math.max(1, now - lease.since);
    // The key's rate since the last step, over one lease period (0 for a slow key: no lease, no slack).
    const want = Math.min(this.maxLease, Math.floor((lease.spent / elapsed) * this.options.leaseMs));
    lease.spent = 0;
    lease.since = now;
    const call = stepBucket(this.redis, subject, this.policy, { cost, want, refund });
    lease.fetching = call.then(
      () => undefined,
      () => undefined,
    );
    try {
      // If the step fails the refund may or may not have reached Redis: those tokens are lost, never doubled.
      const [allowed, leased, left, retryMs] = await call;
      lease.tokens += leased;
      lease.expiresAt = now + this.options.leaseMs;
      lease.remote = left;
      if (allowed === 1) lease.spent += cost;
      return {
        allowed: allowed === 1,
        remaining: left + lease.tokens,
        retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(retryMs / 1000)),
      };
    } finally {
      lease.fetching = null;
    }
  }

  /** Expired leases go back to the bucket; keys idle for a lease period are forgotten. */
  private sweep(): void {
    const now = Date.now();
    for (const [subject, lease] of this.leases) {
      if (lease.fetching || now < lease.expiresAt) continue;
      if (lease.tokens > 0) void this.refund(subject, lease);
      else if (now - lease.since > this.options.leaseMs) this.leases.delete(subject);
    }
  }

  private async refund(subject: string, lease: Lease): Promise<void> {
    const tokens = lease.tokens;
    lease.tokens = 0;
    try {
      await stepBucket(this.redis, subject, this.policy, { cost: 0, refund: tokens });
    } catch (e) {
      // Lost tokens only make the key stricter for a moment; never more than the limit.
      this.options.onError?.(e);
    }
  }
}
