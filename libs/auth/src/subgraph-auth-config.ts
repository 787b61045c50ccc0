import { z } from 'zod';
import { ConfigError, nonNegativeInt, positiveInt, url, type ConfigOf } from '#libs/config';
import { MAX_SUBMIT_BATCH } from '#libs/contracts';
import { OPERATION_LIMITS, type ComplexityLimits } from '#libs/graphql-cost';

export const ACCEPT_METHODS = ['gateway', 'api-key', 'jwt'] as const;
export type AcceptMethod = (typeof ACCEPT_METHODS)[number];

export const rateLimitLeaseEnv = {
  /**
   * A busy key's tokens are taken from its Redis bucket a few at a time (at most 10 % of the burst, sized to its
   * recent rate) and spent locally for at most this long, then what is left goes back: no Redis round trip per
   * request, the limit still shared by every replica. At most 1000; 0: one Redis step per request.
   */
  RATE_LIMIT_LEASE_MS: z.coerce
    .number({ message: 'expected a number' })
    .int('expected an integer')
    .min(0, 'expected 0 (a Redis step per request) to 1000')
    .max(1000, 'expected at most 1000: tokens held by one replica must return within a second')
    .default(250),
};

/**
 * The bounds of one operation (#libs/graphql-cost OPERATION_LIMITS), with the gateway's names and defaults (the
 * gateway spreads these too): at the gateway for every caller, at a subgraph for the callers that did not come
 * through our gateway. MAX_QUERY_COST is also what a subscription's delivered events cost per token.
 */
export const operationLimitsEnv = {
  MAX_QUERY_DEPTH: positiveInt(OPERATION_LIMITS.maxDepth),
  MAX_QUERY_ALIASES: nonNegativeInt(OPERATION_LIMITS.maxAliases),
  MAX_ROOT_FIELDS: positiveInt(OPERATION_LIMITS.maxRootFields),
  MAX_QUERY_COST: positiveInt(OPERATION_LIMITS.maxCost),
  /** Assumed length of a list without `first` (or a `@listSize`) when computing cost. */
  QUERY_COST_DEFAULT_LIST_SIZE: positiveInt(OPERATION_LIMITS.defaultListSize),
  /** Expanded selections (fields, inline fragments, spreads) of one operation. */
  MAX_RECURSIVE_SELECTIONS: positiveInt(OPERATION_LIMITS.maxSelections),
  /** Expanded directives of one operation. */
  MAX_QUERY_DIRECTIVES: nonNegativeInt(OPERATION_LIMITS.maxDirectives),
};

export type OperationLimitsEnvValues = ConfigOf<typeof operationLimitsEnv>;

/** operationLimitsEnv's values as the limits measureOperation checks. */
export const operationLimitsFrom = (c: OperationLimitsEnvValues): ComplexityLimits => ({
  maxDepth: c.MAX_QUERY_DEPTH,
  maxAliases: c.MAX_QUERY_ALIASES,
  maxRootFields: c.MAX_ROOT_FIELDS,
  maxCost: c.MAX_QUERY_COST,
  maxSelections: c.MAX_RECURSIVE_SELECTIONS,
  maxDirectives: c.MAX_QUERY_DIRECTIVES,
  defaultListSize: c.QUERY_COST_DEFAULT_LIST_SIZE,
});

/**
 * The API-key record cache, with the gateway's names and defaults (the gateway spreads these too). Records are
 * cached per key id at most API_KEY_CACHE_TTL_MS; revocations are pushed over Redis pub/sub (every replica drops
 * the key at once), and the cache is bypassed while that subscription is down. The TTL bounds how long a revoked
 * key can still pass if a revocation message were lost silently, so at most 1000 (default 750: with a request in
 * flight, still under a second); 0 reads Redis on every request.
 */
export const apiKeyCacheEnv = {
  API_KEY_CACHE_TTL_MS: z.coerce
    .number({ message: 'expected a number' })
    .int('expected an integer')
    .min(0, 'expected 0 (no cache) to 1000')
    .max(1000, 'expected at most 1000: a revoked key must stop working within a second')
    .default(750),
  /** API key records cached at most (oldest out first). */
  API_KEY_CACHE_MAX_ENTRIES: positiveInt(10_000),
};

/**
 * How the subgraphs authenticate their callers, per deployment (docs/federation.md). Spread into each
 * subgraph's env shape. RATE_LIMIT_* are the gateway's names and defaults: an API key presented to a
 * subgraph draws on the same Redis bucket as at the gateway.
 */
export const subgraphAuthEnv = {
  SUBGRAPH_ACCEPT: z
    .string()
    .transform((v, ctx) => {
      const list = [
        ...new Set(
          v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ),
      ];
      const bad = list.filter((m) => !(ACCEPT_METHODS as readonly string[]).includes(m));
      if (bad.length || list.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a comma list of ${ACCEPT_METHODS.join(', ')}${bad.length ? ` (not: ${bad.join(', ')})` : ''}`,
        });
        return z.NEVER;
      }
      return list as AcceptMethod[];
    })
    .default(['gateway']),
  SUBGRAPH_JWKS_URL: url(['http', 'https'], 'https://idp.example.com/.well-known/jwks.json').optional(),
  SUBGRAPH_JWT_ISSUER: z.string().min(1).optional(),
  SUBGRAPH_JWT_AUDIENCE: z.string().min(1).optional(),
  SUBGRAPH_JWT_TENANT_CLAIM: z.string().min(1).default('tenant'),
  SUBGRAPH_JWT_SCOPES_CLAIM: z.string().min(1).default('scope'),
  RATE_LIMIT_PER_MINUTE: positiveInt(600),
  RATE_LIMIT_BURST: z.coerce.number().int().positive('expected a positive integer').optional(),
  ...rateLimitLeaseEnv,
  ...apiKeyCacheEnv,
  ...operationLimitsEnv,
};

export interface SubgraphAuthEnvValues extends OperationLimitsEnvValues {
  SUBGRAPH_ACCEPT: AcceptMethod[];
  SUBGRAPH_JWKS_URL?: string;
  SUBGRAPH_JWT_ISSUER?: string;
  SUBGRAPH_JWT_AUDIENCE?: string;
  SUBGRAPH_JWT_TENANT_CLAIM: string;
  SUBGRAPH_JWT_SCOPES_CLAIM: string;
  RATE_LIMIT_PER_MINUTE: number;
  RATE_LIMIT_BURST?: number;
  RATE_LIMIT_LEASE_MS: number;
  API_KEY_CACHE_TTL_MS: number;
  API_KEY_CACHE_MAX_ENTRIES: number;
}

export interface SubgraphAuthSettings {
  accept: AcceptMethod[];
  jwt?: {
    jwksUrl: string;
    issuer?: string;
    audience?: string;
    tenantClaim: string;
    scopesClaim: string;
  };
  rateLimit: { perMinute: number; burst: number };
  /** Tokens leased from the shared bucket for this long (RATE_LIMIT_LEASE_MS; 0: a Redis step per request). */
  rateLimitLeaseMs: number;
  /** API-key records cached as at the gateway (api-key mode only; ttlMs 0: Redis on every request). */
  apiKeyCache: { ttlMs: number; maxEntries: number };
  /**
   * What a direct caller's operation may hold and cost (MAX_QUERY_DEPTH, MAX_QUERY_ALIASES, MAX_ROOT_FIELDS,
   * MAX_QUERY_COST…: set them as on our gateway); maxCost is also a token's worth of delivered subscription events.
   */
  operationLimits: ComplexityLimits;
}

/**
 * Cross-field checks (a config error at start, never a surprise at the first request). In production a JWT
 * must name our issuer and audience: without them any token the provider ever minted would do.
 */
export function subgraphAuthSettings(c: SubgraphAuthEnvValues, production: boolean): SubgraphAuthSettings {
  const problems: Array<{ variable: string; expected: string }> = [];
  const jwt = c.SUBGRAPH_ACCEPT.includes('jwt');
  if (jwt && !c.SUBGRAPH_JWKS_URL)
    problems.push({
      variable: 'SUBGRAPH_JWKS_URL',
      expected: 'the identity provider JWKS URL: required when SUBGRAPH_ACCEPT includes jwt',
    });
  if (jwt && production)
    for (const v of ['SUBGRAPH_JWT_ISSUER', 'SUBGRAPH_JWT_AUDIENCE'] as const)
      if (!c[v])
        problems.push({
          variable: v,
          expected: 'required in production mode when SUBGRAPH_ACCEPT includes jwt',
        });
  if (!jwt)
    for (const v of ['SUBGRAPH_JWKS_URL', 'SUBGRAPH_JWT_ISSUER', 'SUBGRAPH_JWT_AUDIENCE'] as const)
      if (c[v])
        problems.push({
          variable: v,
          expected: 'unset unless SUBGRAPH_ACCEPT includes jwt (it would be ignored)',
        });
  if (problems.length) throw new ConfigError(problems);
  return {
    accept: c.SUBGRAPH_ACCEPT,
    jwt: jwt
      ? {
          jwksUrl: c.SUBGRAPH_JWKS_URL!,
          issuer: c.SUBGRAPH_JWT_ISSUER,
          audience: c.SUBGRAPH_JWT_AUDIENCE,
          tenantClaim: c.SUBGRAPH_JWT_TENANT_CLAIM,
          scopesClaim: c.SUBGRAPH_JWT_SCOPES_CLAIM,
        }
      : undefined,
    rateLimit: {
      perMinute: c.RATE_LIMIT_PER_MINUTE,
      // the gateway's default burst: 10 % of a minute's allowance, at least 20
      burst: c.RATE_LIMIT_BURST ?? Math.max(MAX_SUBMIT_BATCH, Math.ceil(c.RATE_LIMIT_PER_MINUTE / 10)),
    },
    rateLimitLeaseMs: c.RATE_LIMIT_LEASE_MS,
    apiKeyCache: { ttlMs: c.API_KEY_CACHE_TTL_MS, maxEntries: c.API_KEY_CACHE_MAX_ENTRIES },
    operationLimits: operationLimitsFrom(c),
  };
}
