import {
  assertIdentitySecret,
  DEV_IDENTITY_SECRET,
  hasScope,
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
    ['other secret', signIdentity(id, 'y'.repeat(40)), 'BAD_SIGNATURE'],
  ])('refuses a %s token', (_n, token, reason) => {
    expect(() => verifyIdentity(token, secret)).toThrow(IdentityError);
    try {
      verifyIdentity(token, secret);
    } catch (e) {
      expect((e as IdentityError).reason).toBe(reason);
    }
  });
  it('refuses a tampered payload', () => {
    const [, sig] = signIdentity(id, secret).split('.');
    const forged = Buffer.from(JSON.stringify({ ...id, tenant: 'evil', exp: 9e9 })).toString('base64url');
    expect(() => verifyIdentity(`${forged}.${sig}`, secret)).toThrow(/signature/);
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
