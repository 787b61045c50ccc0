import { decodeProtectedHeader, jwtVerify } from 'jose';
import {
  assertIdentitySecret,
  DEV_IDENTITY_SECRET,
  hasScope,
  IDENTITY_AUDIENCE,
  IDENTITY_ISSUER,
  identityKeyId,
  isLoopbackHost,
  IdentityError,
  signIdentity,
  verifyIdentity,
} from './index.js';

const secret = 'x'.repeat(40);
const id = { tenant: 'acme', keyId: 'k1', scopes: ['jobs:read' as const] };

describe('signed identity', () => {
  it('round-trips', () => {
    const v = verifyIdentity(signIdentity(id, secret), secret);
    expect(v).toMatchObject(id);
    expect(hasScope(v, 'jobs:read')).toBe(true);
    expect(hasScope(v, 'jobs:write')).toBe(false);
  });
  it.each([
    ['missing', undefined, 'MISSING'],
    ['malformed', 'abc', 'MALFORMED'],
    ['other secret', signIdentity(id, 'y'.repeat(40)), 'UNKNOWN_KEY'],
  ])('refuses a %s token', (_n, token, reason) => {
    expect(() => verifyIdentity(token, secret)).toThrow(IdentityError);
    try {
      verifyIdentity(token, secret);
    } catch (e) {
      expect((e as IdentityError).reason).toBe(reason);
    }
  });
  it('refuses a tampered payload', () => {
    const [header, payload, sig] = signIdentity(id, secret).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, tenant: 'evil' })).toString('base64url');
    expect(() => verifyIdentity(`${header}.${forged}.${sig}`, secret)).toThrow(/signature/);
  });
  it('refuses another algorithm in the header (no alg confusion, no "none")', () => {
    const [, payload] = signIdentity(id, secret).split('.');
    const none = Buffer.from(JSON.stringify({ alg: 'none', kid: identityKeyId(secret) })).toString(
      'base64url',
    );
    expect(() => verifyIdentity(`${none}.${payload}.`, secret)).toThrow(/malformed/);
  });
  it('is a standard HS256 JWT with a kid naming the secret (jose verifies it)', async () => {
    const token = signIdentity(id, secret);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT', kid: identityKeyId(secret) });
    expect(identityKeyId(secret)).not.toContain(secret.slice(0, 8));
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      issuer: IDENTITY_ISSUER,
      audience: IDENTITY_AUDIENCE,
    });
    expect(payload).toMatchObject({ sub: 'k1', tenant: 'acme', scopes: ['jobs:read'] });
    expect(payload.exp! - payload.iat!).toBe(60);
  });
  it('rotates: the first secret signs, every listed secret verifies, a dropped one does not', () => {
    const old = 'o'.repeat(40);
    const fresh = 'n'.repeat(40);
    const byOld = signIdentity(id, old);
    const byFresh = signIdentity(id, `${fresh},${old}`);
    // step 1: the subgraphs know both, the gateway still signs with the old one
    expect(verifyIdentity(byOld, `${old},${fresh}`).tenant).toBe('acme');
    // step 2: the gateway signs with the new one; subgraphs still holding both accept it
    expect(verifyIdentity(byFresh, `${old},${fresh}`).tenant).toBe('acme');
    expect(verifyIdentity(byFresh, [fresh]).tenant).toBe('acme');
    // step 3: the old secret is dropped: its tokens stop verifying
    expect(() => verifyIdentity(byOld, fresh)).toThrow(/unknown key/);
  });
  it('refuses an expired token', () => {
    const t = signIdentity(id, secret, 1000);
    expect(() => verifyIdentity(t, secret, 1000 + 61)).toThrow(/expired/);
    expect(verifyIdentity(t, secret, 1000 + 59).tenant).toBe('acme');
  });
  it('admin implies every scope', () => {
    expect(hasScope({ ...id, scopes: ['admin'], exp: 1 }, 'artifacts:write')).toBe(true);
  });
  it('stops production with a missing or default secret', () => {
    expect(() => assertIdentitySecret(undefined, true)).toThrow(/SWITCHYARD_IDENTITY_SECRET/);
    expect(() => assertIdentitySecret(DEV_IDENTITY_SECRET, true)).toThrow(/SWITCHYARD_IDENTITY_SECRET/);
    expect(assertIdentitySecret(undefined, false)).toBe(DEV_IDENTITY_SECRET);
    expect(assertIdentitySecret(secret, true)).toBe(secret);
    expect(assertIdentitySecret(`${secret},${'z'.repeat(32)}`, true)).toBe(`${secret},${'z'.repeat(32)}`);
    expect(() => assertIdentitySecret(`${secret},short`, true)).toThrow(/at least 32/);
    expect(() => assertIdentitySecret(`${secret},${DEV_IDENTITY_SECRET}`, true)).toThrow(/production/);
  });
  it('refuses the development secret whenever BIND_HOST is not loopback, in any mode', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'gateway.internal', '[::]'])
      for (const given of [undefined, DEV_IDENTITY_SECRET]) {
        expect(() => assertIdentitySecret(given, false, host)).toThrow(/BIND_HOST/);
        expect(() => assertIdentitySecret(given, true, host)).toThrow(/SWITCHYARD_IDENTITY_SECRET/);
      }
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]'])
      expect(assertIdentitySecret(undefined, false, host)).toBe(DEV_IDENTITY_SECRET);
    expect(assertIdentitySecret(secret, false, '0.0.0.0')).toBe(secret);
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
  });
});
