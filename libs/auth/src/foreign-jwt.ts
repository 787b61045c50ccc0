import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { Scope, Tenant, type Identity } from '#libs/contracts';
import { CallerAuthError } from './caller-auth-error.js';

export interface ForeignJwtSettings {
  /** The other team's identity provider's key set (SUBGRAPH_JWKS_URL). */
  jwksUrl: string;
  issuer?: string;
  audience?: string;
  /** Claim holding the tenant (SUBGRAPH_JWT_TENANT_CLAIM, default `tenant`). */
  tenantClaim: string;
  /** Claim holding the scopes, space-separated or an array (SUBGRAPH_JWT_SCOPES_CLAIM, default `scope`). */
  scopesClaim: string;
  /** A token with an unknown `kid` refetches the key set at most this often (jose's cooldown). */
  refetchCooldownMs?: number;
}

/** Public-key algorithms only: a JWKS never holds the shared secret an HS* token would need. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Verifies JWTs from another team's identity provider against its JWKS (cached by jose; a token signed by a
 * key not in the cache triggers a refetch, so the provider can rotate keys) and reads tenant and scopes
 * from the configured claims. Scopes that are not Switchyard scopes (openid, profile...) are ignored.
 */
export class ForeignJwtVerifier {
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly settings: ForeignJwtSettings) {
    this.keys = createRemoteJWKSet(new URL(settings.jwksUrl), {
      cooldownDuration: settings.refetchCooldownMs ?? 30_000,
      timeoutDuration: 5_000,
    });
  }

  async verify(token: string): Promise<Identity> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        algorithms: ALGORITHMS,
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        requiredClaims: ['exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (e) {
      throw toCallerAuthError(e);
    }
    const tenant = Tenant.safeParse(payload[this.settings.tenantClaim]);
    if (!tenant.success)
      throw new CallerAuthError(
        'UNAUTHENTICATED',
        `JWT claim "${this.settings.tenantClaim}" does not name a tenant`,
        { reason: 'NO_TENANT' },
      );
    return {
      tenant: tenant.data,
      keyId: jwtCallerId(tenant.data, payload.sub),
      scopes: scopesOf(payload[this.settings.scopesClaim]),
      exp: payload.exp!,
    };
  }
}

/**
 * The caller id a JWT caller is counted by (its subscription slots, our logs): the tenant first, so two tenants
 * never share a count, whatever `sub` their provider gives (or leaves out: each tenant's sub-less tokens share
 * one count of their own). A tenant name has no `:` (Tenant), so the two parts cannot be confused.
 */
const jwtCallerId = (tenant: string, sub: string | undefined): string =>
  `jwt:${tenant}:${sub ?? 'anonymous'}`;

function scopesOf(claim: unknown): Scope[] {
  const raw = typeof claim === 'string' ? claim.split(/\s+/) : Array.isArray(claim) ? claim : [];
  return [...new Set(raw.filter((s): s is Scope => Scope.safeParse(s).success))];
}

function toCallerAuthError(e: unknown): CallerAuthError {
  if (e instanceof joseErrors.JWTExpired)
    return new CallerAuthError('UNAUTHENTICATED', 'JWT expired', { reason: 'EXPIRED' });
  if (e instanceof joseErrors.JWKSNoMatchingKey)
    return new CallerAuthError('UNAUTHENTICATED', 'JWT signed with an unknown key', {
      reason: 'UNKNOWN_KEY',
    });
  if (e instanceof joseErrors.JWSSignatureVerificationFailed)
    return new CallerAuthError('UNAUTHENTICATED', 'JWT signature does not verify', {
      reason: 'BAD_SIGNATURE',
    });
  if (e instanceof joseErrors.JWTClaimValidationFailed)
    return new CallerAuthError('UNAUTHENTICATED', `JWT claim "${e.claim}" is not acceptable`, {
      reason: 'BAD_CLAIM',
    });
  if (e instanceof joseErrors.JWKSTimeout || !(e instanceof joseErrors.JOSEError))
    // the key set could not be fetched: not the caller's fault, and not a reason to let it in
    return new CallerAuthError('UNAVAILABLE', 'cannot fetch the JWT key set right now; retry shortly');
  return new CallerAuthError('UNAUTHENTICATED', 'malformed JWT', { reason: 'MALFORMED' });
}
