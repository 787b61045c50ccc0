import { IdentitySigner, IdentityVerifier } from './identity-cache.js';
import { IDENTITY_TTL_SECONDS, IdentityError, signIdentity, verifyIdentity } from './identity-token.js';

const OLD = 'o'.repeat(40);
const NEW = 'n'.repeat(40);
const acme = { tenant: 'acme', keyId: 'k1', scopes: ['jobs:read' as const] };

const reason = (f: () => unknown) => {
  try {
    f();
    return 'accepted';
  } catch (e) {
    return e instanceof IdentityError ? e.reason : `other: ${String(e)}`;
  }
};

describe('IdentitySigner', () => {
  it('reuses a caller token while it has half its lifetime left, then signs a fresh one', () => {
    let now = 1_000_000;
    const signer = new IdentitySigner(OLD, { now: () => now });
    const first = signer.token(acme);
    expect(verifyIdentity(first, OLD, now)).toEqual({ ...acme, exp: now + IDENTITY_TTL_SECONDS });
    now += IDENTITY_TTL_SECONDS / 2;
    expect(signer.token(acme)).toBe(first);
    now += 1;
    const second = signer.token(acme);
    expect(second).not.toBe(first);
    expect(verifyIdentity(second, OLD, now).exp).toBe(now + IDENTITY_TTL_SECONDS);
  });

  it('one token per tenant, key and scopes', () => {
    const signer = new IdentitySigner(OLD);
    const a = signer.token(acme);
    expect(signer.token({ ...acme, tenant: 'globex' })).not.toBe(a);
    expect(signer.token({ ...acme, keyId: 'k2' })).not.toBe(a);
    expect(signer.token({ ...acme, scopes: ['jobs:read', 'jobs:write'] })).not.toBe(a);
    expect(verifyIdentity(signer.token({ ...acme, tenant: 'globex' }), OLD).tenant).toBe('globex');
  });

  it('rotation: signs with the first configured secret; subgraphs with both accept it', () => {
    const token = new IdentitySigner(`${NEW},${OLD}`).token(acme);
    expect(verifyIdentity(token, `${OLD},${NEW}`).tenant).toBe('acme');
    expect(reason(() => verifyIdentity(token, OLD))).toBe('UNKNOWN_KEY');
  });
});

describe('IdentityVerifier', () => {
  it('verifies a token once and answers it from memory until it expires', () => {
    let now = 2_000_000;
    const verifier = new IdentityVerifier(OLD, { now: () => now });
    const token = signIdentity(acme, OLD, now);
    const identity = verifier.verify(token);
    expect(identity).toEqual({ ...acme, exp: now + IDENTITY_TTL_SECONDS });
    expect(verifier.verify(token)).toBe(identity);
    expect(Object.isFrozen(identity) && Object.isFrozen(identity.scopes)).toBe(true);
    now += IDENTITY_TTL_SECONDS;
    expect(reason(() => verifier.verify(token))).toBe('EXPIRED');
    expect(reason(() => verifier.verify(token))).toBe('EXPIRED');
  });

  it('refuses what verifyIdentity refuses, every time (failures are not remembered)', () => {
    const verifier = new IdentityVerifier(OLD);
    const good = signIdentity(acme, OLD);
    verifier.verify(good);
    const [h, p] = good.split('.');
    const forged = `${h}.${p}.${Buffer.from('x'.repeat(32)).toString('base64url')}`;
    expect(reason(() => verifier.verify(forged))).toBe('BAD_SIGNATURE');
    expect(reason(() => verifier.verify(forged))).toBe('BAD_SIGNATURE');
    expect(reason(() => verifier.verify(signIdentity(acme, NEW)))).toBe('UNKNOWN_KEY');
    expect(reason(() => verifier.verify(undefined))).toBe('MISSING');
    expect(reason(() => verifier.verify('a.b'))).toBe('MALFORMED');
  });

  it('keeps a bounded number of tokens', () => {
    const verifier = new IdentityVerifier(OLD, { maxEntries: 2 });
    const tokens = ['a', 'b', 'c'].map((t) => signIdentity({ ...acme, tenant: t }, OLD));
    for (const t of tokens) verifier.verify(t);
    expect((verifier as unknown as { verified: Map<string, unknown> }).verified.size).toBe(2);
    expect(verifier.verify(tokens[0]!).tenant).toBe('a');
  });
});
