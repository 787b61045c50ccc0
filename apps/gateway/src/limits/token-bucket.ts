// The per-key token bucket moved to #libs/auth: the subgraphs rate-limit API keys (SUBGRAPH_ACCEPT=api-key)
// with the same bucket, so a key has one allowance whichever door it comes through.
export { rateLimitKey, TokenBucketLimiter, type RateDecision, type RateLimitPolicy } from '#libs/auth';
