import type { Redis } from 'ioredis';
import { ApiKeyStore } from './api-key-store.js';
import { ForeignJwtVerifier } from './foreign-jwt.js';
import { IDENTITY_HEADER, type IdentitySecrets } from './identity-token.js';
import type { SubgraphAuthSettings } from './subgraph-auth-config.js';
import { SubgraphAuthenticator, type CallerCredentials } from './subgraph-authenticator.js';
import { TokenBucketLimiter } from './token-bucket.js';

/** Builds a subgraph's authenticator from its parsed settings; `redis` serves API keys and their buckets. */
export function createSubgraphAuthenticator(
  settings: SubgraphAuthSettings,
  identitySecrets: IdentitySecrets,
  redis: Redis,
): SubgraphAuthenticator {
  return new SubgraphAuthenticator({
    accept: settings.accept,
    identitySecrets,
    apiKeys: settings.accept.includes('api-key')
      ? { store: new ApiKeyStore(redis), limiter: new TokenBucketLimiter(redis, settings.rateLimit) }
      : undefined,
    jwt: settings.jwt ? new ForeignJwtVerifier(settings.jwt) : undefined,
  });
}

/** An HTTP request's credentials (express `req.header`). */
export function credentialsFromHttp(req: { header(name: string): string | undefined }): CallerCredentials {
  return { identityToken: req.header(IDENTITY_HEADER), authorization: req.header('authorization') };
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
