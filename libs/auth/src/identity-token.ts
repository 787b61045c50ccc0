import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Identity, parseContract, Scope } from '#libs/contracts';

/** Header (HTTP) and connection param (graphql-ws) that carry the gateway's signed identity. */
export const IDENTITY_HEADER = 'x-switchyard-identity';
/** How long a signed identity stays valid: long enough for one request, short enough to be useless when leaked. */
export const IDENTITY_TTL_SECONDS = 60;
/** The development secret: accepted only outside production mode. */
export const DEV_IDENTITY_SECRET = 'switchyard-dev-identity-secret-change-me';
/** `iss` and `aud` of identity tokens: a token minted for anything else is refused. */
export const IDENTITY_ISSUER = 'switchyard-gateway';
export const IDENTITY_AUDIENCE = 'switchyard-subgraphs';

export type IdentityErrorReason = 'MISSING' | 'MALFORMED' | 'BAD_SIGNATURE' | 'UNKNOWN_KEY' | 'EXPIRED';

export class IdentityError extends Error {
  constructor(
    readonly reason: IdentityErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}

/**
 * `SWITCHYARD_IDENTITY_SECRET` holds one secret or several, comma-separated: the first signs, all verify.
 * Rotation: add the new secret second everywhere, then move it first on the gateway, then drop the old one.
 */
export type IdentitySecrets = string | readonly string[];

export function identitySecretList(secrets: IdentitySecrets): string[] {
  const list = (typeof secrets === 'string' ? secrets.split(',') : [...secrets])
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new Error('no identity secret given');
  return list;
}

/** The JWT `kid` of a secret: a hash, so tokens name their key without revealing it. */
export const identityKeyId = (secret: string): string =>
  createHash('sha256').update(`switchyard-identity-kid:${secret}`).digest('hex').slice(0, 16);

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const mac = (input: string, secret: string) => createHmac('sha256', secret).update(input).digest();

interface IdentityClaims {
  iss: string;
  aud: string;
  sub: string;
  tenant: string;
  scopes: Scope[];
  iat: number;
  exp: number;
}

/**
 * The gateway's identity as a compact JWS (HS256, `kid` = identityKeyId of the signing secret): a standard
 * JWT any JOSE library verifies (jose's jwtVerify does, see the spec). Signed synchronously with node:crypto
 * because it is minted on every subgraph fetch and graphql-ws connection.
 */
export function signIdentity(
  identity: Omit<Identity, 'exp'> & { exp?: number },
  secrets: IdentitySecrets,
  nowSeconds = Math.floor(Date.now() / 1000),
): string {
  const full = parseContract(Identity, 'Identity', {
    ...identity,
    exp: identity.exp ?? nowSeconds + IDENTITY_TTL_SECONDS,
  });
  const secret = identitySecretList(secrets)[0]!;
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: identityKeyId(secret) }));
  const claims: IdentityClaims = {
    iss: IDENTITY_ISSUER,
    aud: IDENTITY_AUDIENCE,
    sub: full.keyId,
    tenant: full.tenant,
    scopes: full.scopes,
    iat: nowSeconds,
    exp: full.exp,
  };
  const input = `${header}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(mac(input, secret))}`;
}

function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Verifies a gateway identity token against every configured secret (picked by `kid`); throws IdentityError. */
export function verifyIdentity(
  token: string | undefined | null,
  secrets: IdentitySecrets,
  nowSeconds = Math.floor(Date.now() / 1000),
): Identity {
  if (!token)
    throw new IdentityError('MISSING', 'no signed identity: requests must come through the gateway');
  const parts = token.split('.');
  if (parts.length !== 3) throw new IdentityError('MALFORMED', 'malformed identity token');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart);
  // only HS256: a token cannot choose a weaker or asymmetric algorithm (alg confusion)
  if (!header || header.alg !== 'HS256' || typeof header.kid !== 'string')
    throw new IdentityError('MALFORMED', 'malformed identity token');
  const secret = identitySecretList(secrets).find((s) => identityKeyId(s) === header.kid);
  if (!secret) throw new IdentityError('UNKNOWN_KEY', 'identity token signed with an unknown key');
  const given = Buffer.from(signaturePart, 'base64url');
  const expected = mac(`${headerPart}.${payloadPart}`, secret);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new IdentityError('BAD_SIGNATURE', 'identity signature does not verify');
  const claims = decodeJson(payloadPart);
  if (!claims || claims.iss !== IDENTITY_ISSUER || claims.aud !== IDENTITY_AUDIENCE)
    throw new IdentityError('MALFORMED', 'identity token is not a Switchyard identity');
  let parsed: Identity;
  try {
    parsed = parseContract(Identity, 'Identity', {
      tenant: claims.tenant,
      keyId: claims.sub,
      scopes: claims.scopes,
      exp: claims.exp,
    });
  } catch {
    throw new IdentityError('MALFORMED', 'identity payload is not a valid identity');
  }
  if (parsed.exp <= nowSeconds) throw new IdentityError('EXPIRED', 'identity expired');
  return parsed;
}

export const hasScope = (identity: Identity, scope: Scope): boolean =>
  identity.scopes.includes(scope) || identity.scopes.includes('admin');

/** Whether a bind address only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  return (
    h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h)
  );
}

/**
 * Refuses, in production mode, a secret list (comma-separated) that is missing or where any secret is short or
 * the development default; and in any mode, the development default (also as the fallback for a missing
 * secret) when the process listens on an address other than loopback (`bindHost`): anyone who can reach it
 * could forge identities with the published development secret. Returns the list as given, or the development
 * secret outside production.
 */
export function assertIdentitySecret(
  secret: string | undefined,
  production: boolean,
  bindHost = '127.0.0.1',
): string {
  if (!production) {
    const effective = secret || DEV_IDENTITY_SECRET;
    const usesDevSecret = effective.split(',').some((s) => s.trim() === DEV_IDENTITY_SECRET);
    if (usesDevSecret && !isLoopbackHost(bindHost))
      throw new Error(
        `SWITCHYARD_IDENTITY_SECRET must be set to a random string of at least 32 characters when BIND_HOST (${bindHost}) is not a loopback address: the development secret is public`,
      );
    return effective;
  }
  const list = secret ? secret.split(',').map((s) => s.trim()) : [];
  if (list.length === 0 || list.some((s) => !s || s === DEV_IDENTITY_SECRET || s.length < 32))
    throw new Error(
      'SWITCHYARD_IDENTITY_SECRET must be set to a random string of at least 32 characters (or several, comma-separated: the first signs, all verify) in production mode (NODE_ENV=production)',
    );
  return secret!;
}
