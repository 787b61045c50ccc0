import type { Redis } from 'ioredis';
import { createRedis, quitRedis, type RedisLogger, type RedisTarget } from '#libs/redis';
import { CachedApiKeyVerifier, loggedApiKeyCacheHooks } from './api-key-cache.js';
import { ApiKeyStore } from './api-key-store.js';
import { ForeignJwtVerifier } from './foreign-jwt.js';
import { IDENTITY_HEADER, type IdentitySecrets } from './identity-token.js';
import type { SubgraphAuthSettings } from './subgraph-auth-config.js';
import { SubgraphAuthenticator, type CallerCredentials } from './subgraph-authenticator.js';
import { rateLimiter } from './leased-token-bucket.js';

export interface SubgraphAuthDeps {
  /** API key records and their buckets. */
  redis: Redis;
  /** Where the API-key cache's revocation subscriber connects (api-key mode with the cache on). */
  redisTarget: RedisTarget;
  /** Names the subscriber connection (CLIENT LIST, logs), e.g. `jobs-key-revocations`. */
  subscriberName: string;
  logger: RedisLogger;
}

/** A subgraph's authenticator and the lifecycle of what it holds (the API-key cache's subscription). */
export interface SubgraphAuth {
  authenticator: SubgraphAuthenticator;
  /** Subscribes the API-key cache to revocations; until then (and whenever it is down) keys are read per request. */
  start(): Promise<void>;
  /** Gives leased tokens back and closes the revocation subscriber. */
  close(): Promise<void>;
}

/**
 * Builds a subgraph's authenticator from its parsed settings. In api-key mode keys are verified and limited as
 * at the gateway, without a Redis round trip per request: from a cache of their records (API_KEY_CACHE_TTL_MS,
 * ≤ 1 s) that revocations reach over pub/sub on a connection of its own, bypassed while that subscription is
 * down, and with tokens leased from the shared bucket (RATE_LIMIT_LEASE_MS); 0 turns either off.
 */
export function createSubgraphAuth(
  settings: SubgraphAuthSettings,
  identitySecrets: IdentitySecrets,
  deps: SubgraphAuthDeps,
): SubgraphAuth {
  const apiKeys = settings.accept.includes('api-key');
  const store = new ApiKeyStore(deps.redis);
  const subscriber =
    apiKeys && settings.apiKeyCache.ttlMs > 0
      ? createRedis({ ...deps.redisTarget, name: deps.subscriberName, role: 'blocking', logger: deps.logger })
      : undefined;
  const cache = subscriber
    ? new CachedApiKeyVerifier(store, subscriber, {
        ttlMs: settings.apiKeyCache.ttlMs,
        maxEntries: settings.apiKeyCache.maxEntries,
        ...loggedApiKeyCacheHooks(deps.logger),
      })
    : undefined;
  const limiter = apiKeys
    ? rateLimiter(deps.redis, settings.rateLimit, settings.rateLimitLeaseMs, deps.logger)
    : undefined;
  const authenticator = new SubgraphAuthenticator({
    accept: settings.accept,
    identitySecrets,
    apiKeys: limiter ? { store: cache ?? store, limiter } : undefined,
    jwt: settings.jwt ? new ForeignJwtVerifier(settings.jwt) : undefined,
    operationLimits: settings.operationLimits,
  });
  return {
    authenticator,
    start: async () => cache?.start(),
    close: async () => {
      await limiter?.close?.(); // unspent leased tokens go back to the shared bucket
      cache?.close();
      if (subscriber) await quitRedis(subscriber, 2_000);
    },
  };
}

/** An HTTP request's credentials, from its headers (node's request or express's). */
export function credentialsFromHttp(req: {
  headers: Readonly<Record<string, string | string[] | undefined>>;
}): CallerCredentials {
  // node's headers (lower-case names; a repeated one joined with ', '), as express's req.header reads them
  return {
    identityToken: req.headers[IDENTITY_HEADER] as string | undefined,
    authorization: req.headers.authorization as string | undefined,
  };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/**
 * A graphql-ws connection's credentials: the connection_init payload (`identity`, `authorization` or
 * `Authorization`, as routers forward it), else the upgrade request's headers.
 */
export function credentialsFromConnection(
  params: Readonly<Record<string, unknown>> | undefined,
  upgradeHeaders: Readonly<Record<string, string | string[] | undefined>> = {},
): CallerCredentials {
  const header = (name: string) => {
    const v = upgradeHeaders[name];
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    identityToken: str(params?.identity) ?? str(params?.[IDENTITY_HEADER]) ?? header(IDENTITY_HEADER),
    authorization: str(params?.authorization) ?? str(params?.Authorization) ?? header('authorization'),
  };
}
