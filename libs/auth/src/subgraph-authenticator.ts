import type { Identity } from '#libs/contracts';
import { OPERATION_LIMITS, type ComplexityLimits } from '#libs/graphql-cost';
import { apiKeyFromAuthorization, parseApiKey } from './api-key.js';
import { ApiKeyError } from './api-key-store.js';
import type { ApiKeyVerifier } from './api-key-cache.js';
import type { CredentialVerdict } from './connection-credential-watch.js';
import { CallerAuthError } from './caller-auth-error.js';
import { DeliveryCharge, type DeliveryEnd } from './delivery-charge.js';
import type { ForeignJwtVerifier } from './foreign-jwt.js';
import { IdentityVerifier } from './identity-cache.js';
import { IdentityError, IDENTITY_TTL_SECONDS, type IdentitySecrets } from './identity-token.js';
import type { AcceptMethod } from './subgraph-auth-config.js';
import type { RateLimiter } from './leased-token-bucket.js';

/** What a request or graphql-ws connection presented. */
export interface CallerCredentials {
  /** Our gateway's signed identity (x-switchyard-identity, or connectionParams.identity). */
  identityToken?: string | null;
  /** `Authorization` (HTTP header, or connectionParams.authorization / the upgrade request's header). */
  authorization?: string | null;
}

/** The one verified identity every subgraph code path takes tenant and scopes from, and how it was proven. */
export interface VerifiedCaller {
  identity: Identity;
  method: AcceptMethod;
}

export interface SubgraphAuthenticatorOptions {
  accept: readonly AcceptMethod[];
  identitySecrets: IdentitySecrets;
  /**
   * Required when `accept` has api-key: the same records (the store, or the gateway's cache in front of it) and
   * per-key bucket as the gateway.
   */
  apiKeys?: { store: ApiKeyVerifier; limiter: RateLimiter };
  /** Required when `accept` has jwt. */
  jwt?: ForeignJwtVerifier;
  /**
   * What an operation of a caller that did not come through our gateway may hold and cost (checked by
   * #libs/subgraph admitOperation); default OPERATION_LIMITS, our gateway's defaults.
   */
  operationLimits?: ComplexityLimits;
  now?: () => number;
}

const unauthenticated = (message: string, reason: string) =>
  new CallerAuthError('UNAUTHENTICATED', message, { reason });

/**
 * Authenticates a subgraph's caller by the methods this deployment accepts (SUBGRAPH_ACCEPT): our gateway's
 * identity JWT, a Switchyard API key forwarded by a foreign router, or the foreign router's own JWT. A
 * credential that is presented is judged by its own method only (a bad one is never retried as another);
 * nothing acceptable: UNAUTHENTICATED, and nothing runs.
 */
export class SubgraphAuthenticator {
  private readonly accept: ReadonlySet<AcceptMethod>;
  /** The gateway reuses a token for many requests: its signature is checked once (until it expires). */
  private readonly identities: IdentityVerifier;

  constructor(private readonly options: SubgraphAuthenticatorOptions) {
    this.accept = new Set(options.accept);
    this.identities = new IdentityVerifier(options.identitySecrets, {
      now: options.now ? () => Math.floor(options.now!() / 1000) : undefined,
    });
    if (this.accept.has('api-key') && !options.apiKeys)
      throw new Error('api-key authentication needs the API key store and limiter');
    if (this.accept.has('jwt') && !options.jwt) throw new Error('jwt authentication needs a JWKS verifier');
  }

  /** The bounds of a direct caller's operation (checked by #libs/subgraph admitOperation). */
  get operationLimits(): Readonly<ComplexityLimits> {
    return this.options.operationLimits ?? OPERATION_LIMITS;
  }

  get methods(): readonly AcceptMethod[] {
    return [...this.accept];
  }

  /** Throws CallerAuthError (UNAUTHENTICATED, RATE_LIMITED, UNAVAILABLE). */
  async authenticate(credentials: CallerCredentials): Promise<VerifiedCaller> {
    if (this.accept.has('gateway') && credentials.identityToken)
      return { identity: this.gatewayIdentity(credentials.identityToken), method: 'gateway' };
    const bearer = apiKeyFromAuthorization(credentials.authorization ?? null);
    if (bearer && this.accept.has('api-key') && looksLikeApiKey(bearer))
      return { identity: await this.apiKeyIdentity(bearer), method: 'api-key' };
    if (bearer && this.accept.has('jwt') && bearer.split('.').length === 3)
      return { identity: await this.options.jwt!.verify(bearer), method: 'jwt' };
    if (bearer)
      throw unauthenticated(`credential not accepted here (accepted: ${this.describe()})`, 'NOT_ACCEPTED');
    throw unauthenticated(this.missingMessage(), 'MISSING');
  }

  private gatewayIdentity(token: string): Identity {
    try {
      return this.identities.verify(token);
    } catch (e) {
      if (e instanceof IdentityError) throw unauthenticated(e.message, e.reason);
      throw e;
    }
  }

  /**
   * Whether a long-lived connection's caller still holds, charging nothing (graphql-ws connections are checked
   * again while they live): an API key not revoked, a JWT not expired. Our gateway's identity is the gateway's
   * to police (it closes its clients' sockets when their key is revoked). `unknown`: the key store could not
   * answer.
   */
  async stillValid(caller: VerifiedCaller, credentials: CallerCredentials): Promise<CredentialVerdict> {
    if (caller.method === 'jwt') return caller.identity.exp * 1000 > this.nowMs() ? 'valid' : 'invalid';
    if (caller.method !== 'api-key') return 'valid';
    const key = apiKeyFromAuthorization(credentials.authorization ?? null);
    if (!key) return 'invalid';
    try {
      await this.options.apiKeys!.store.verify(key);
      return 'valid';
    } catch (e) {
      return e instanceof ApiKeyError ? 'invalid' : 'unknown';
    }
  }

  /** Revocations as this deployment's API-key cache receives them (none without a cache). Returns an unsubscribe. */
  onApiKeyRevoked(listener: (keyId: string) => void): () => void {
    return this.options.apiKeys?.store.onRevoked?.(listener) ?? (() => undefined);
  }

  /**
   * An API-key caller's operation that does the work of `units` requests (one per mutation field, per job of
   * a `submitJobs` and per graph it validates: rateLimitUnits, charged by #libs/subgraph admitOperation before it runs) owes `units - 1` more tokens of the key's bucket, as
   * at the gateway. Callers of other methods were charged
   * where they came in (our gateway, the foreign router): nothing to do. Returns `{ burst }` when `units`
   * can never fit the bucket (waiting would not help; nothing taken); throws CallerAuthError RATE_LIMITED or
   * UNAVAILABLE.
   */
  async chargeUnits(caller: VerifiedCaller, units: number): Promise<{ burst: number } | undefined> {
    if (caller.method !== 'api-key' || units <= 1) return undefined;
    const { limiter } = this.options.apiKeys!;
    if (units > limiter.policy.burst) return { burst: limiter.policy.burst };
    await this.takeTokens(caller.identity.keyId, units - 1);
    return undefined;
  }

  /** Whether `caller`'s subscription events are charged: a direct API key's (JWT callers have no bucket here). */
  chargesDeliveries(caller: VerifiedCaller, eventCost: number): boolean {
    return caller.method === 'api-key' && eventCost > 0;
  }

  /**
   * What an API-key caller's subscription pays for its delivered events, as at our gateway (DeliveryCharge:
   * `eventCost`, the operation's measured cost, per event; a token of the key's bucket per operationLimits.maxCost,
   * at most a burst per round trip, taken after delivery); `onEnd` ends the subscription when the bucket refuses or
   * the limiter stays unreachable. Null for other callers: our gateway charged its own clients, and a foreign JWT is
   * not rate-limited here.
   */
  deliveryCharge(caller: VerifiedCaller, eventCost: number, onEnd: DeliveryEnd): DeliveryCharge | null {
    if (!this.chargesDeliveries(caller, eventCost)) return null;
    const { limiter } = this.options.apiKeys!;
    return new DeliveryCharge(
      {
        take: async (keyId, tokens) => {
          const d = await limiter.take(keyId, tokens);
          return d.allowed ? { allowed: true } : { allowed: false, retryAfterSeconds: d.retryAfterSeconds };
        },
        costPerToken: this.operationLimits.maxCost,
        maxBatch: limiter.policy.burst,
      },
      caller.identity.keyId,
      eventCost,
      onEnd,
    );
  }

  /** `n` tokens of the key's bucket, or CallerAuthError RATE_LIMITED (with the wait) or UNAVAILABLE. */
  private async takeTokens(keyId: string, n: number): Promise<void> {
    let decision;
    try {
      decision = await this.options.apiKeys!.limiter.take(keyId, n);
    } catch {
      throw new CallerAuthError('UNAVAILABLE', 'rate limiter unavailable; retry shortly');
    }
    if (!decision.allowed)
      throw new CallerAuthError(
        'RATE_LIMITED',
        `rate limit exceeded; retry in ${decision.retryAfterSeconds} s`,
        {
          retryAfterSeconds: decision.retryAfterSeconds,
        },
      );
  }

  /** As at the gateway: verify (revocation takes effect on the next request), then one token of the key's bucket. */
  private async apiKeyIdentity(key: string): Promise<Identity> {
    const { store } = this.options.apiKeys!;
    let verified;
    try {
      verified = await store.verify(key);
    } catch (e) {
      if (e instanceof ApiKeyError)
        throw unauthenticated(
          e.reason === 'REVOKED' ? 'this API key has been revoked' : 'invalid API key',
          e.reason === 'REVOKED' ? 'REVOKED' : 'INVALID_KEY',
        );
      throw new CallerAuthError('UNAVAILABLE', 'cannot verify API keys right now; retry shortly');
    }
    await this.takeTokens(verified.id, 1);
    const now = Math.floor(this.nowMs() / 1000);
    return {
      tenant: verified.tenant,
      keyId: verified.id,
      scopes: verified.scopes,
      exp: now + IDENTITY_TTL_SECONDS,
    };
  }

  private nowMs(): number {
    return this.options.now?.() ?? Date.now();
  }

  private describe(): string {
    return this.methods.join(', ');
  }

  private missingMessage(): string {
    const only = this.methods;
    if (only.length === 1 && only[0] === 'gateway')
      return 'no signed identity: requests must come through the gateway';
    return `no credentials: send Authorization: Bearer <${only
      .filter((m) => m !== 'gateway')
      .map((m) => (m === 'api-key' ? 'Switchyard API key' : 'JWT'))
      .join(' or ')}>`;
  }
}

const looksLikeApiKey = (value: string) => parseApiKey(value) !== null || value.startsWith('sy_');
