import type { Identity } from '#libs/contracts';
import {
  IDENTITY_TTL_SECONDS,
  IdentityError,
  signIdentity,
  verifyIdentity,
  type IdentitySecrets,
} from './identity-token.js';

/** Entries kept at most by each cache below (oldest out first): far more than live callers at once. */
const DEFAULT_MAX_ENTRIES = 10_000;

function bounded<K, V>(map: Map<K, V>, max: number, key: K, value: V): void {
  map.delete(key);
  if (map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Signs the gateway's identity tokens once per caller and reuses each while it still has at least half its
 * lifetime (IDENTITY_TTL_SECONDS) left, instead of an HMAC and two JSON encodings per subgraph fetch. A
 * reused token is exactly what signIdentity would mint (same claims, same expiry rules, signed by the first
 * secret), so rotation works as before: a process signs with its configured first secret.
 */
export class IdentitySigner {
  private readonly tokens = new Map<string, { token: string; exp: number }>();

  constructor(
    private readonly secrets: IdentitySecrets,
    private readonly options: { maxEntries?: number; now?: () => number } = {},
  ) {}

  token(identity: Omit<Identity, 'exp'>): string {
    const now = (this.options.now ?? nowSeconds)();
    const key = `${identity.tenant}\u0000${identity.keyId}\u0000${identity.scopes.join(',')}`;
    const cached = this.tokens.get(key);
    if (cached && cached.exp - now >= IDENTITY_TTL_SECONDS / 2) return cached.token;
    const exp = now + IDENTITY_TTL_SECONDS;
    const token = signIdentity({ ...identity, exp }, this.secrets, now);
    bounded(this.tokens, this.options.maxEntries ?? DEFAULT_MAX_ENTRIES, key, { token, exp });
    return token;
  }
}

/**
 * Verifies identity tokens, remembering each token that verified until its own expiry: the gateway reuses a
 * token for up to half a minute, so the subgraph checks its signature once instead of on every request. A
 * hit is the very same token text (signature included) against the same secrets, and is still refused once
 * expired; failures are not remembered (each is judged again).
 */
export class IdentityVerifier {
  private readonly verified = new Map<string, Identity>();

  constructor(
    private readonly secrets: IdentitySecrets,
    private readonly options: { maxEntries?: number; now?: () => number } = {},
  ) {}

  /** As verifyIdentity: the identity, or IdentityError. */
  verify(token: string | undefined | null): Identity {
    const now = (this.options.now ?? nowSeconds)();
    const known = token ? this.verified.get(token) : undefined;
    if (known) {
      if (known.exp > now) return known;
      this.verified.delete(token!);
      throw new IdentityError('EXPIRED', 'identity expired');
    }
    const parsed = verifyIdentity(token, this.secrets, now);
    // shared by every request that presents this token: nobody may change it
    const identity = Object.freeze({
      ...parsed,
      scopes: Object.freeze([...parsed.scopes]) as Identity['scopes'],
    });
    bounded(this.verified, this.options.maxEntries ?? DEFAULT_MAX_ENTRIES, token!, identity);
    return identity;
  }
}
