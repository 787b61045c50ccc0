import { apiKeyFromAuthorization, ApiKeyError, type ApiKeyVerifier } from '#libs/auth';
import type { CallerIdentity } from '../subscriptions/upstream-pool.js';
import { gatewayError } from '../gateway-errors.js';

/** Turns the presented credential (HTTP Authorization header or graphql-ws connectionParams.authorization) into an identity. */
export class Authenticator {
  constructor(private readonly keys: ApiKeyVerifier) {}

  /** Throws UNAUTHENTICATED (same message for unknown and wrong keys: no oracle), or UNAVAILABLE when Redis is down. */
  async authenticate(authorization: unknown): Promise<CallerIdentity> {
    const key = typeof authorization === 'string' ? apiKeyFromAuthorization(authorization) : null;
    if (!key) throw gatewayError('UNAUTHENTICATED', 'an API key is required: Authorization: Bearer <key>');
    try {
      const verified = await this.keys.verify(key);
      return { tenant: verified.tenant, keyId: verified.id, scopes: verified.scopes };
    } catch (e) {
      if (e instanceof ApiKeyError)
        throw gatewayError(
          'UNAUTHENTICATED',
          e.reason === 'REVOKED' ? 'this API key has been revoked' : 'invalid API key',
        );
      throw gatewayError('UNAVAILABLE', 'cannot verify API keys right now; retry shortly');
    }
  }
}
