import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API key format: `sy_<id>_<secret>`. Both parts are lowercase hex, so `_` only ever separates them.
 * The id is public (it names the key in lists and logs); only sha256(secret) is stored. The secret carries
 * 256 bits of entropy, so a plain sha256 is enough (no slow KDF needed: there is nothing to brute-force).
 */
export const API_KEY_PREFIX = 'sy';
const ID_BYTES = 8;
const SECRET_BYTES = 32;
const API_KEY_PATTERN = new RegExp(
  `^${API_KEY_PREFIX}_([0-9a-f]{${ID_BYTES * 2}})_([0-9a-f]{${SECRET_BYTES * 2}})$`,
);

export interface ParsedApiKey {
  id: string;
  secret: string;
}

export interface GeneratedApiKey extends ParsedApiKey {
  key: string;
  secretHash: string;
}

export const hashApiKeySecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export function generateApiKey(): GeneratedApiKey {
  const id = randomBytes(ID_BYTES).toString('hex');
  const secret = randomBytes(SECRET_BYTES).toString('hex');
  return { id, secret, key: `${API_KEY_PREFIX}_${id}_${secret}`, secretHash: hashApiKeySecret(secret) };
}

/** Returns the parts of a well-formed key, or null (the caller answers UNAUTHENTICATED either way). */
export function parseApiKey(key: string): ParsedApiKey | null {
  const m = API_KEY_PATTERN.exec(key.trim());
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatchesHash(secret: string, storedHash: string): boolean {
  const given = Buffer.from(hashApiKeySecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored);
}

/** `Authorization: Bearer <key>` (the scheme is case-insensitive); also accepts the bare key. */
export function apiKeyFromAuthorization(value: string | undefined | null): string | null {
  if (!value) return null;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(value);
  if (m) return m[1]!;
  return /^\S+$/.test(value.trim()) ? value.trim() : null;
}
