import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { ConfigError, loadConfig } from '#libs/config';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { OPERATION_LIMITS } from '#libs/graphql-cost';
import {
  ApiKeyStore,
  CallerAuthError,
  DeliveryRateLimited,
  rateLimitKey,
  SharedSubscriptionSlots,
  SubscriptionQuota,
  ForeignJwtVerifier,
  signIdentity,
  SubgraphAuthenticator,
  subgraphAuthEnv,
  subgraphAuthSettings,
  TokenBucketLimiter,
  type AcceptMethod,
  type CallerCredentials,
} from './index.js';

const SECRET = 's'.repeat(40);

/** A tiny identity provider: serves whatever keys the test puts in `keys`, counts fetches. */
async function startJwks(): Promise<{
  url: string;
  keys: JWK[];
  fetches: () => number;
  close(): Promise<void>;
}> {
  const keys: JWK[] = [];
  let fetches = 0;
  const server: Server = createServer((_req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    keys,
    fetches: () => fetches,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function newSigningKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

describe('SubgraphAuthenticator', () => {
  let server: RedisHandle;
  let redis: Redis;
  let store: ApiKeyStore;
  let idp: Awaited<ReturnType<typeof startJwks>>;
  let key1: Awaited<ReturnType<typeof newSigningKey>>;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    store = new ApiKeyStore(redis);
    idp = await startJwks();
    key1 = await newSigningKey('k1');
    idp.keys.push(key1.jwk);
  });
  afterAll(async () => {
    await redis?.quit();
    await server?.stop();
    await idp?.close();
  });

  const make = (accept: AcceptMethod[], burst = 100, perMinute = 60) =>
    new SubgraphAuthenticator({
      accept,
      identitySecrets: SECRET,
      apiKeys: { store, limiter: new TokenBucketLimiter(redis, { perMinute, burst }) },
      jwt: new ForeignJwtVerifier({
        jwksUrl: idp.url,
        issuer: 'https://idp.test',
        audience: 'switchyard',
        tenantClaim: 'tenant',
        scopesClaim: 'scope',
        refetchCooldownMs: 0,
      }),
    });

  const refusal = async (auth: SubgraphAuthenticator, c: CallerCredentials) => {
    try {
      await auth.authenticate(c);
    } catch (e) {
      if (e instanceof CallerAuthError) return { code: e.code, message: e.message, ...e.extensions };
      throw e;
    }
    return 'accepted';
  };

  const jwt = (
    claims: Record<string, unknown>,
    signer = key1,
    /** `null`: a token without `sub`. */
    opts: { iss?: string; aud?: string; exp?: string | number; sub?: string | null } = {},
  ) => {
    const token = new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: signer.kid })
      .setIssuer(opts.iss ?? 'https://idp.test')
      .setAudience(opts.aud ?? 'switchyard')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '2m');
    if (opts.sub !== null) token.setSubject(opts.sub ?? 'svc-billing');
    return token.sign(signer.privateKey);
  };

  it('gateway: accepts our signed identity and says how it was proven', async () => {
    const token = signIdentity({ tenant: 'acme', keyId: 'k', scopes: ['jobs:read'] }, SECRET);
    const caller = await make(['gateway']).authenticate({ identityToken: token });
    expect(caller).toMatchObject({ method: 'gateway', identity: { tenant: 'acme', scopes: ['jobs:read'] } });
    expect(await refusal(make(['gateway']), {})).toMatchObject({
      code: 'UNAUTHENTICATED',
      reason: 'MISSING',
      message: expect.stringMatching(/no signed identity/),
    });
    // an API key is not good enough where only the gateway is accepted
    const { key } = await store.create({ tenant: 'acme', scopes: ['jobs:read'] });
    expect(await refusal(make(['gateway']), { authorization: `Bearer ${key}` })).toMatchObject({
      code: 'UNAUTHENTICATED',
      reason: 'NOT_ACCEPTED',
    });
  });

  it('api-key: verifies, scopes and revokes like the gateway', async () => {
    const auth = make(['api-key']);
    const { key, record } = await store.create({ tenant: 'globex', scopes: ['jobs:read', 'artifacts:read'] });
    const caller = await auth.authenticate({ authorization: `Bearer ${key}` });
    expect(caller.method).toBe('api-key');
    expect(caller.identity).toMatchObject({
      tenant: 'globex',
      keyId: record.id,
      scopes: ['jobs:read', 'artifacts:read'],
    });
    expect(await refusal(auth, { authorization: `Bearer sy_${record.id}_${'0'.repeat(64)}` })).toMatchObject({
      code: 'UNAUTHENTICATED',
      message: 'invalid API key',
    });
    await store.revoke(record.id);
    expect(await refusal(auth, { authorization: `Bearer ${key}` })).toMatchObject({
      code: 'UNAUTHENTICATED',
      message: 'this API key has been revoked',
    });
    // a gateway token is not accepted when only api-key is
    const token = signIdentity({ tenant: 'globex', keyId: 'k', scopes: ['admin'] }, SECRET);
    expect(await refusal(auth, { identityToken: token })).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('api-key: draws on the same per-key bucket as the gateway (RATE_LIMITED with retryAfterSeconds)', async () => {
    const { key, record } = await store.create({ tenant: 'acme', scopes: ['jobs:read'] });
    // the gateway spends one token of this key's bucket...
    expect((await new TokenBucketLimiter(redis, { perMinute: 60, burst: 2 }).take(record.id)).allowed).toBe(
      true,
    );
    const auth = make(['api-key'], 2);
    // ...so the subgraph has one left
    await expect(auth.authenticate({ authorization: `Bearer ${key}` })).resolves.toBeTruthy();
    expect(await refusal(auth, { authorization: `Bearer ${key}` })).toMatchObject({
      code: 'RATE_LIMITED',
      retryAfterSeconds: expect.any(Number),
    });
  });

  it("charges an API key's delivered subscription events to its bucket (a token per maxCost), not a JWT's or our gateway's", async () => {
    // 1 a minute: no refill worth counting during the test
    const auth = make(['gateway', 'api-key', 'jwt'], 3, 1);
    const { key, record } = await store.create({ tenant: 'acme', scopes: ['jobs:read'] });
    const apiKey = await auth.authenticate({ authorization: `Bearer ${key}` }); // 2 tokens left
    const ended: unknown[] = [];
    // half a token an event: every second event owes a token, taken after it is delivered
    const charge = auth.deliveryCharge(apiKey, OPERATION_LIMITS.maxCost / 2, (e) => ended.push(e))!;
    const deliverTwo = () => [0, 1].forEach(() => charge.delivered());
    deliverTwo();
    await waitFor(async () => charge.taken === 1, { what: 'the first token' });
    deliverTwo();
    await waitFor(async () => charge.taken === 2, { what: 'the second token' });
    expect(Math.floor(Number(await redis.hget(rateLimitKey(record.id), 'tokens')))).toBe(0);
    expect(ended).toEqual([]);
    deliverTwo();
    await waitFor(async () => ended.length > 0, { what: 'the refusal' });
    expect(ended[0]).toBeInstanceOf(DeliveryRateLimited);
    expect((ended[0] as DeliveryRateLimited).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(charge.taken).toBe(2);

    const viaJwt = await auth.authenticate({
      authorization: `Bearer ${await jwt({ tenant: 'acme', scope: 'jobs:read' })}`,
    });
    const viaGateway = await auth.authenticate({
      identityToken: signIdentity({ tenant: 'acme', keyId: record.id, scopes: ['jobs:read'] }, SECRET),
    });
    for (const caller of [viaJwt, viaGateway])
      expect(auth.deliveryCharge(caller, OPERATION_LIMITS.maxCost, () => undefined)).toBeNull();
  });

  it('jwt: reads tenant and Switchyard scopes from the claims of a token the JWKS verifies', async () => {
    const auth = make(['jwt']);
    const caller = await auth.authenticate({
      authorization: `Bearer ${await jwt({ tenant: 'initech', scope: 'openid jobs:read artifacts:read' })}`,
    });
    expect(caller).toMatchObject({
      method: 'jwt',
      identity: {
        tenant: 'initech',
        keyId: 'jwt:initech:svc-billing',
        scopes: ['jobs:read', 'artifacts:read'],
      },
    });
    for (const [token, reason] of [
      [await jwt({ tenant: 'initech' }, key1, { iss: 'https://evil.test' }), 'BAD_CLAIM'],
      [await jwt({ tenant: 'initech' }, key1, { aud: 'other-api' }), 'BAD_CLAIM'],
      [await jwt({ tenant: 'initech' }, key1, { exp: Math.floor(Date.now() / 1000) - 60 }), 'EXPIRED'],
      [await jwt({ scope: 'jobs:read' }), 'NO_TENANT'],
      [await jwt({ tenant: 'initech' }, await newSigningKey('never-served')), 'UNKNOWN_KEY'],
    ] as const)
      expect(await refusal(auth, { authorization: `Bearer ${token}` })).toMatchObject({
        code: 'UNAUTHENTICATED',
        reason,
      });
  });

  it("jwt: one tenant's callers never use up another's subscription slots, with or without `sub`", async () => {
    const auth = make(['jwt']);
    const slots = new SharedSubscriptionSlots(redis, { ttlMs: 30_000 });
    const quota = new SubscriptionQuota(10, 1, slots);
    const identityOf = async (tenant: string, sub?: string | null) =>
      (
        await auth.authenticate({
          authorization: `Bearer ${await jwt({ tenant, scope: 'jobs:read' }, key1, { sub })}`,
        })
      ).identity;
    const outcome = (keyId: string) =>
      quota.acquire({}, keyId).then(
        () => 'allowed',
        (e: unknown) => (e instanceof CallerAuthError ? e.code : String(e)),
      );
    try {
      // A tenant's sub-less tokens share one slot count; a second subscription of theirs is refused.
      expect(await outcome((await identityOf('initech', null)).keyId)).toBe('allowed');
      expect(await outcome((await identityOf('initech', null)).keyId)).toBe('RATE_LIMITED');
      // Another tenant's sub-less tokens, and a subject that happens to bear the same name, still get theirs.
      expect(await outcome((await identityOf('globex', null)).keyId)).toBe('allowed');
      expect(await outcome((await identityOf('initech', 'svc-billing')).keyId)).toBe('allowed');
      expect(await outcome((await identityOf('globex', 'svc-billing')).keyId)).toBe('allowed');
    } finally {
      await slots.close();
    }
  });

  it('jwt: a key the provider rotates in is fetched on its first unknown kid', async () => {
    const auth = make(['jwt']);
    await auth.authenticate({ authorization: `Bearer ${await jwt({ tenant: 'acme' })}` });
    const key2 = await newSigningKey('k2');
    idp.keys.push(key2.jwk);
    const before = idp.fetches();
    const caller = await auth.authenticate({
      authorization: `Bearer ${await jwt({ tenant: 'acme' }, key2)}`,
    });
    expect(caller.identity.tenant).toBe('acme');
    expect(idp.fetches()).toBe(before + 1);
    // a cached key costs no fetch
    await auth.authenticate({ authorization: `Bearer ${await jwt({ tenant: 'acme' }, key2)}` });
    expect(idp.fetches()).toBe(before + 1);
  });

  it('jwt: an unreachable key set is UNAVAILABLE, never a pass', async () => {
    const auth = new SubgraphAuthenticator({
      accept: ['jwt'],
      identitySecrets: SECRET,
      jwt: new ForeignJwtVerifier({
        jwksUrl: 'http://127.0.0.1:9/jwks.json',
        tenantClaim: 'tenant',
        scopesClaim: 'scope',
      }),
    });
    expect(await refusal(auth, { authorization: `Bearer ${await jwt({ tenant: 'acme' })}` })).toMatchObject({
      code: 'UNAVAILABLE',
    });
  });

  it('all three at once: each credential by its own method; nothing at all is UNAUTHENTICATED', async () => {
    const auth = make(['gateway', 'api-key', 'jwt']);
    const { key } = await store.create({ tenant: 'acme', scopes: ['jobs:read'] });
    const token = signIdentity({ tenant: 'acme', keyId: 'k', scopes: ['jobs:read'] }, SECRET);
    expect((await auth.authenticate({ identityToken: token })).method).toBe('gateway');
    expect((await auth.authenticate({ authorization: `Bearer ${key}` })).method).toBe('api-key');
    expect(
      (await auth.authenticate({ authorization: `Bearer ${await jwt({ tenant: 'acme' })}` })).method,
    ).toBe('jwt');
    expect(await refusal(auth, {})).toMatchObject({
      code: 'UNAUTHENTICATED',
      message: expect.stringMatching(/Authorization: Bearer/),
    });
    expect(await refusal(auth, { authorization: 'Bearer not-a-credential' })).toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });
});

describe('SUBGRAPH_ACCEPT and friends', () => {
  const load = (env: Record<string, string>, production = false) =>
    subgraphAuthSettings(loadConfig(subgraphAuthEnv, env), production);

  it('defaults to gateway only', () => {
    expect(load({})).toMatchObject({
      accept: ['gateway'],
      jwt: undefined,
      rateLimit: { perMinute: 600, burst: 100 }, // at least one full submitJobs batch (MAX_SUBMIT_BATCH)
      operationLimits: OPERATION_LIMITS, // the gateway's defaults
    });
  });
  it("takes a direct caller's operation bounds by the gateway's names", () => {
    expect(
      load({
        MAX_QUERY_DEPTH: '6',
        MAX_ROOT_FIELDS: '5',
        MAX_QUERY_ALIASES: '0',
        MAX_QUERY_COST: '900',
        QUERY_COST_DEFAULT_LIST_SIZE: '7',
        MAX_RECURSIVE_SELECTIONS: '80',
        MAX_QUERY_DIRECTIVES: '0',
      }).operationLimits,
    ).toEqual({
      maxDepth: 6,
      maxRootFields: 5,
      maxAliases: 0,
      maxCost: 900,
      defaultListSize: 7,
      maxSelections: 80,
      maxDirectives: 0,
    });
    // refused at start-up, named
    expect(() => load({ MAX_QUERY_COST: '0' })).toThrow(/MAX_QUERY_COST/);
  });
  it('parses the comma list and the JWT settings', () => {
    expect(
      load({
        SUBGRAPH_ACCEPT: 'gateway, api-key,jwt',
        SUBGRAPH_JWKS_URL: 'https://idp.example.com/jwks.json',
        SUBGRAPH_JWT_SCOPES_CLAIM: 'scp',
      }),
    ).toMatchObject({
      accept: ['gateway', 'api-key', 'jwt'],
      jwt: { jwksUrl: 'https://idp.example.com/jwks.json', tenantClaim: 'tenant', scopesClaim: 'scp' },
    });
  });
  it.each([
    [
      { SUBGRAPH_ACCEPT: 'gateway,oauth' },
      false,
      /SUBGRAPH_ACCEPT: expected a comma list of gateway, api-key, jwt \(not: oauth\)/,
    ],
    [{ SUBGRAPH_ACCEPT: 'jwt' }, false, /SUBGRAPH_JWKS_URL: the identity provider JWKS URL/],
    [
      { SUBGRAPH_ACCEPT: 'jwt', SUBGRAPH_JWKS_URL: 'ftp://x' },
      false,
      /SUBGRAPH_JWKS_URL: expected a http or https URL/,
    ],
    [
      { SUBGRAPH_ACCEPT: 'jwt', SUBGRAPH_JWKS_URL: 'https://idp/jwks' },
      true,
      /SUBGRAPH_JWT_AUDIENCE: required in production/,
    ],
    [{ SUBGRAPH_JWKS_URL: 'https://idp/jwks' }, false, /SUBGRAPH_JWKS_URL: unset unless/],
    [{ MAX_ROOT_FIELDS: '0' }, false, /MAX_ROOT_FIELDS: /],
    [{ MAX_QUERY_ALIASES: 'many' }, false, /MAX_QUERY_ALIASES: /],
  ])('refuses %j (production %s) at start', (env, production, message) => {
    expect(() => load(env as Record<string, string>, production)).toThrow(ConfigError);
    expect(() => load(env as Record<string, string>, production)).toThrow(message);
  });
});
