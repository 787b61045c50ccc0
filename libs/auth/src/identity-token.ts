import { createHmac, timingSafeEqual } from 'node:crypto';
import { Identity, parseContract, Scope } from '#libs/contracts';

/** Header (HTTP) and connection param (graphql-ws) that carry the gateway's signed identity. */
export const IDENTITY_HEADER = 'x-switchyard-identity';
/** How long a signed identity stays valid: long enough for one request, short enough to be useless when leaked. */
export const IDENTITY_TTL_SECONDS = 60;
/** The development secret: accepted only outside production mode. */
export const DEV_IDENTITY_SECRET = 'switchyard-dev-identity-secret-change-me';

export type IdentityErrorReason = 'MISSING' | 'MALFORMED' | 'BAD_SIGNATURE' | 'EXPIRED';

export class IdentityError extends Error {
  constructor(
    readonly reason: IdentityErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const mac = (payload: string, secret: string) => createHmac('sha256', secret).update(payload).digest();

/** `<base64url(json)>.<base64url(hmac-sha256)>` */
export function signIdentity(
  identity: Omit<Identity, 'exp'> & { exp?: number },
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): string {
  const full = parseContract(Identity, 'Identity', {
    ...identity,
    exp: identity.exp ?? nowSeconds + IDENTITY_TTL_SECONDS,
  });
  const payload = b64url(JSON.stringify(full));
  return `${payload}.${b64url(mac(payload, secret))}`;
}

export function verifyIdentity(
  token: string | undefined | null,
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Identity {
  if (!token)
    throw new IdentityError('MISSING', 'no signed identity: requests must come through the gateway');
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.'))
    throw new IdentityError('MALFORMED', 'malformed identity token');
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = mac(payload, secret);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new IdentityError('BAD_SIGNATURE', 'identity signature does not verify');
  let parsed: Identity;
  try {
    parsed = parseContract(
      Identity,
      'Identity',
      JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')),
    );
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
 * Refuses, in production mode, a secret that is missing, short or the development default; and in any
 * mode, the development default (also as the fallback for a missing secret) when the process listens on
 * an address other than loopback (`bindHost`): anyone who can reach it could forge identities with the
 * published development secret.
 */
export function assertIdentitySecret(
  secret: string | undefined,
  production: boolean,
  bindHost = '127.0.0.1',
): string {
  if (!production) {
    const effective = secret || DEV_IDENTITY_SECRET;
    if (effective === DEV_IDENTITY_SECRET && !isLoopbackHost(bindHost))
      throw new Error(
        `SWITCHYARD_IDENTITY_SECRET must be set to a random string of at least 32 characters when BIND_HOST (${bindHost}) is not a loopback address: the development secret is public`,
      );
    return effective;
  }
  if (!secret || secret === DEV_IDENTITY_SECRET || secret.length < 32)
    throw new Error(
      'SWITCHYARD_IDENTITY_SECRET must be set to a random string of at least 32 characters in production mode (NODE_ENV=production)',
    );
  return secret;
}
