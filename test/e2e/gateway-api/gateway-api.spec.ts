import { readFileSync, writeFileSync } from 'node:fs';
import { serverAudits } from 'graphql-http';
import { Redis } from 'ioredis';
import { IDENTITY_HEADER, signIdentity, subscriptionSlotsKey } from '#libs/auth';
import { freePort, startApp, waitFor } from '#libs/testing';
import {
  codeOf,
  collect,
  gql,
  startGatewayStack,
  wsClient,
  type GatewayStack,
} from '../gateway-support/gateway-stack.js';

/**
 * The gateway as the only public door: the GraphQL-over-HTTP audit, the auth matrix over HTTP and
 * graphql-ws, limits, the playground and hot reload of the supergraph file. Real processes throughout
 * (redis, s3rver, both subgraphs, the gateway).
 */
describe('gateway API', () => {
  let stack: GatewayStack;
  let acmeRead: string; // jobs:read, artifacts:read
  let acmeWrite: string; // jobs:read, jobs:write
  let admin: string;

  beforeAll(async () => {
    stack = await startGatewayStack({
      gatewayEnv: {
        RATE_LIMIT_PER_MINUTE: '600',
        RATE_LIMIT_BURST: '40',
        MAX_SUBSCRIPTIONS_PER_CONNECTION: '3',
        MAX_QUERY_DEPTH: '8',
        MAX_BODY_BYTES: '20000',
      },
    });
    acmeRead = (await stack.createKey('acme', ['jobs:read', 'artifacts:read'])).key;
    acmeWrite = (await stack.createKey('acme', ['jobs:read', 'jobs:write'])).key;
    admin = (await stack.createKey('ops', ['admin'])).key;
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('passes the graphql-http server audit (no MUST fails)', async () => {
    // ~60 requests in a burst: spread them over keys so the rate limit (burst 40 here) is not what is audited.
    const keys = await Promise.all(
      [0, 1, 2, 3].map(async () => (await stack.createKey('audit', ['jobs:read'])).key),
    );
    let n = 0;
    const audits = serverAudits({
      url: stack.url,
      fetchFn: (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
        const headers = new Headers(init?.headers);
        headers.set('authorization', `Bearer ${keys[n++ % keys.length]}`);
        return fetch(input, { ...init, headers });
      },
    });
    const results = [];
    for (const audit of audits) results.push(await audit.fn());
    const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
    const failures: string[] = [];
    for (const r of results) {
      counts[r.status]++;
      if (r.status !== 'ok')
        failures.push(`${r.status.toUpperCase()} ${r.name}: ${'reason' in r ? r.reason : ''}`);
    }
    // The score, for the report: every MUST passes; SHOULD/MAY misses are listed.
    process.stdout.write(
      `graphql-http audit: ${counts.ok}/${results.length} ok, ${counts.notice} notices, ${counts.warn} warnings, ${counts.error} errors\n${failures.join('\n')}\n`,
    );
    const mustFails = results.filter((r) => r.status === 'error' && /MUST/.test(r.name));
    expect(mustFails.map((r) => r.name)).toEqual([]);
  }, 60_000);

  describe('auth matrix over HTTP', () => {
    const QUERY = '{ templates { name } }';
    it('no key → 401 UNAUTHENTICATED', async () => {
      const r = await gql(stack.url, null, QUERY);
      expect([r.status, codeOf(r)]).toEqual([401, 'UNAUTHENTICATED']);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    });
    it('bad key → 401', async () => {
      const r = await gql(stack.url, `sy_${'0'.repeat(16)}_${'1'.repeat(64)}`, QUERY);
      expect([r.status, codeOf(r)]).toEqual([401, 'UNAUTHENTICATED']);
      expect((await gql(stack.url, 'garbage', QUERY)).status).toBe(401);
    });
    it('a valid key reads; a missing scope is FORBIDDEN for queries and mutations', async () => {
      expect((await gql(stack.url, acmeRead, QUERY)).body.data?.templates).toEqual(expect.any(Array));
      const mutation = await gql(stack.url, acmeRead, 'mutation { cancelJob(id: "nope") { id } }');
      expect([mutation.status, codeOf(mutation)]).toEqual([403, 'FORBIDDEN']);
      const adminOnly = await gql(stack.url, acmeRead, '{ workers { id } }');
      expect(codeOf(adminOnly)).toBe('FORBIDDEN');
    });
    it("another tenant's job is NOT_FOUND", async () => {
      const globex = (await stack.createKey('globex', ['jobs:read', 'jobs:write'])).key;
      // Without a worker the graph is refused, so use a job id from another tenant's idempotent submit path:
      // a job that does not exist and a job of another tenant answer the same way.
      const r = await gql(stack.url, globex, 'query($id: ID!) { job(id: $id) { id } }', {
        id: 'job-of-acme',
      });
      expect(r.body.data?.job ?? null).toBeNull();
      const cancel = await gql(stack.url, globex, 'mutation { cancelJob(id: "job-of-acme") { id } }');
      expect(codeOf(cancel)).toBe('NOT_FOUND');
    });
    it('a revoked key stops working within seconds', async () => {
      const { id, key } = await stack.createKey('acme', ['jobs:read']);
      expect((await gql(stack.url, key, QUERY)).status).toBe(200);
      await stack.revokeKey(id);
      const started = Date.now();
      await waitFor(async () => (await gql(stack.url, key, QUERY)).status === 401, { timeoutMs: 5_000 });
      expect(Date.now() - started).toBeLessThan(5_000);
    });
    it('admins create and revoke keys through the API; others cannot', async () => {
      const create = 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { id tenant scopes key } }';
      const r = await gql(stack.url, admin, create, {
        i: { tenant: 'initech', scopes: ['jobs:read'], name: 'ci' },
      });
      const created = r.body.data!.createApiKey;
      expect(created).toMatchObject({
        tenant: 'initech',
        scopes: ['jobs:read'],
        key: expect.stringMatching(/^sy_/),
      });
      expect((await gql(stack.url, created.key, QUERY)).status).toBe(200);
      expect(
        codeOf(await gql(stack.url, acmeWrite, create, { i: { tenant: 'acme', scopes: ['admin'] } })),
      ).toBe('FORBIDDEN');
      expect(
        codeOf(await gql(stack.url, admin, create, { i: { tenant: 'BAD TENANT', scopes: ['jobs:read'] } })),
      ).toBe('BAD_USER_INPUT');
      const revoked = await gql(stack.url, admin, 'mutation($id: ID!) { revokeApiKey(id: $id) }', {
        id: created.id,
      });
      expect(revoked.body.data).toEqual({ revokeApiKey: true });
      expect((await gql(stack.url, created.key, QUERY)).status).toBe(401);
    });
  });

  describe('going around the gateway', () => {
    it('a subgraph refuses a request without a signed identity, and one signed with another secret', async () => {
      for (const port of [stack.env.JOBS_SUBGRAPH_PORT, stack.env.ARTIFACTS_SUBGRAPH_PORT]) {
        const url = `http://127.0.0.1:${port}/graphql`;
        const bare = await gql(url, null, '{ templates { name } }').catch(() => null);
        const bareArtifact = await gql(url, null, '{ artifact(id: "x") { id } }').catch(() => null);
        const r = port === stack.env.JOBS_SUBGRAPH_PORT ? bare! : bareArtifact!;
        expect(codeOf(r)).toBe('UNAUTHENTICATED');
        const forged = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [IDENTITY_HEADER]: signIdentity(
              { tenant: 'acme', keyId: 'x', scopes: ['admin'] },
              'not-the-secret-not-the-secret-xx',
            ),
          },
          body: JSON.stringify({ query: '{ __typename }' }),
        });
        expect(
          codeOf({ status: forged.status, headers: forged.headers, body: (await forged.json()) as any }),
        ).toBe('UNAUTHENTICATED');
      }
    });
  });

  describe('auth matrix over graphql-ws', () => {
    it('closes 4403 on no key and on a bad key', async () => {
      for (const key of [null, 'garbage']) {
        const client = wsClient(stack.wsUrl, key);
        const c = collect(client, 'subscription { jobFeed { seq } }');
        expect(await c.done).toBe('error');
        expect(client.closes).toContain(4403);
        await client.dispose();
      }
    });
    it('authorises every subscribe: missing scope FORBIDDEN, other tenant NOT_FOUND, valid one opens', async () => {
      const noJobs = (await stack.createKey('acme', ['artifacts:read'])).key;
      const client = wsClient(stack.wsUrl, noJobs);
      const forbidden = collect(client, 'subscription { jobFeed { seq } }');
      expect(await forbidden.done).toBe('error');
      expect((forbidden.error as any[])[0].extensions.code).toBe('FORBIDDEN');
      await client.dispose();

      // Refused by the jobs subgraph once the stream is asked for: graphql-ws delivers that as a result
      // with errors, then complete (the same as a direct graphql-ws subscription would).
      const reader = wsClient(stack.wsUrl, acmeRead);
      const missing = collect(reader, 'subscription { jobEvents(jobId: "job-of-someone-else") { seq } }');
      expect(await missing.done).toBe('complete');
      expect(missing.results).toHaveLength(1);
      expect(missing.results[0]!.errors![0].extensions.code).toBe('NOT_FOUND');
      await reader.dispose();
    });
    it('closes the live sockets of a revoked key (4403) within seconds', async () => {
      const { id, key } = await stack.createKey('acme', ['jobs:read']);
      const client = wsClient(stack.wsUrl, key);
      const feed = collect(client, 'subscription { jobFeed { seq } }');
      await new Promise((r) => setTimeout(r, 500));
      await stack.revokeKey(id);
      await waitFor(() => client.closes.includes(4403), { timeoutMs: 10_000 });
      expect(await feed.done).toBe('error');
      await client.dispose();
    });
    it('limits subscriptions per connection', async () => {
      // A key of its own, and its subscription slots in Redis read to know when the gateway has taken or given
      // back a subscription (fixed 300-500 ms sleeps for that were tight on a loaded CI machine).
      const { id, key } = await stack.createKey('acme', ['jobs:read']);
      const redis = new Redis(stack.redis.url);
      const held = () => redis.zcard(subscriptionSlotsKey(id));
      const client = wsClient(stack.wsUrl, key);
      try {
        const subs = [0, 1, 2].map(() => collect(client, 'subscription { jobFeed { seq } }'));
        await waitFor(async () => (await held()) === 3, {
          timeoutMs: 10_000,
          what: 'three live subscriptions',
        });
        const fourth = collect(client, 'subscription { jobFeed { seq } }');
        expect(await fourth.done).toBe('error');
        expect((fourth.error as any[])[0].extensions.code).toBe('RATE_LIMITED');
        subs[0]!.dispose();
        await waitFor(async () => (await held()) === 2, {
          timeoutMs: 10_000,
          what: 'the completed one given back',
        });
        const again = collect(client, 'subscription { jobFeed { seq } }');
        await waitFor(async () => again.error !== undefined || (await held()) === 3, {
          timeoutMs: 10_000,
          what: 'the new subscription taken or refused',
        });
        expect(again.error).toBeUndefined();
        for (const s of [...subs, again]) s.dispose();
      } finally {
        await client.dispose();
        redis.disconnect();
      }
    });
  });

  describe('limits', () => {
    it('rate-limits per key: 429 RATE_LIMITED with retryAfterSeconds and Retry-After', async () => {
      const { key } = await stack.createKey('acme', ['jobs:read']);
      const other = (await stack.createKey('acme', ['jobs:read'])).key;
      // Burst 40, refilled at 10/s: requests go in waves of 20 until one is refused, so a slow (loaded) machine
      // that refills the bucket between requests still reaches the limit; the count admitted is bounded by the
      // burst plus what elapsed time refilled.
      const statuses: number[] = [];
      let limited: Awaited<ReturnType<typeof gql>> | undefined;
      const started = Date.now();
      while (!limited && statuses.length < 1_000) {
        const wave = await Promise.all(
          Array.from({ length: 20 }, () => gql(stack.url, key, '{ __typename }')),
        );
        for (const r of wave) {
          statuses.push(r.status);
          if (r.status === 429) limited ??= r;
        }
      }
      const refilled = Math.ceil(((Date.now() - started) / 1000) * 10);
      const admitted = statuses.filter((s) => s === 200).length;
      expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
      expect(admitted).toBeGreaterThanOrEqual(40);
      expect(admitted).toBeLessThanOrEqual(40 + refilled);
      expect(limited).toBeDefined();
      expect(codeOf(limited!)).toBe('RATE_LIMITED');
      expect(limited!.body.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await gql(stack.url, other, '{ __typename }')).status).toBe(200); // another key's bucket
    });
    it('refuses deep, aliased and costly operations with QUERY_TOO_COMPLEX', async () => {
      const { key } = await stack.createKey('acme', ['jobs:read']);
      const deep = await gql(
        stack.url,
        key,
        '{ jobs { edges { node { nodes { error { code } } artifacts { id } } } pageInfo { endCursor } } job(id: "x") { nodes { error { message } } } }',
      );
      expect(deep.status).toBe(200); // depth 5 (the public schema has no cycles deeper than that; depth is unit-tested)
      const aliases = `{ ${Array.from({ length: 40 }, (_, i) => `a${i}: templates { name }`).join(' ')} }`;
      const r1 = await gql(stack.url, key, aliases);
      expect([r1.status, codeOf(r1)]).toEqual([400, 'QUERY_TOO_COMPLEX']);
      expect(r1.body.errors![0]!.extensions!.limits).toEqual(
        expect.arrayContaining([expect.objectContaining({ limit: 'aliases' })]),
      );
      const costly = await gql(
        stack.url,
        key,
        '{ jobs(first: 100000) { edges { node { nodes { id } artifacts { id } } } } }',
      );
      expect(codeOf(costly)).toBe('QUERY_TOO_COMPLEX');
      const ws = wsClient(stack.wsUrl, key);
      const sub = collect(
        ws,
        `subscription { jobEvents(jobId: "x") { job { nodes { error { code } } } ${Array.from({ length: 40 }, (_, i) => `a${i}: seq`).join(' ')} } }`,
      );
      expect(await sub.done).toBe('error');
      expect((sub.error as any[])[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
      await ws.dispose();
    });
    it('refuses a body over MAX_BODY_BYTES with 413', async () => {
      const { key } = await stack.createKey('acme', ['jobs:read']);
      const r = await gql(stack.url, key, `{ __typename } # ${'x'.repeat(30_000)}`);
      expect(r.status).toBe(413);
      expect(r.body.errors?.[0]?.message).toMatch(/larger than/);
    });
    it('answers a subscription sent over HTTP with a pointer to graphql-ws', async () => {
      const r = await gql(stack.url, acmeRead, 'subscription { jobFeed { seq } }');
      expect(r.body.errors?.[0]?.message).toMatch(/graphql-ws/);
    });
  });

  describe('playground', () => {
    it('serves GraphiQL and its bundled assets from the gateway itself (no CDN)', async () => {
      const page = await fetch(stack.url, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('/playground/assets/playground.js');
      expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/); // nothing fetched from elsewhere
      for (const asset of [
        'playground.js',
        'playground.css',
        'editor.worker.js',
        'graphql.worker.js',
        'json.worker.js',
      ]) {
        const r = await fetch(stack.url.replace('/graphql', `/playground/assets/${asset}`));
        expect([asset, r.status]).toEqual([asset, 200]);
        expect((await r.arrayBuffer()).byteLength).toBeGreaterThan(1000);
      }
      expect((await fetch(stack.url.replace('/graphql', '/playground'))).status).toBe(200);
    }, 120_000);
  });

  describe('production mode', () => {
    it('turns introspection off and leaks no stack trace or internal host', async () => {
      const [port, deadPort] = await Promise.all([freePort(), freePort()]);
      const prod = await startApp(
        'dist/apps/gateway/src/main.js',
        {
          ...stack.env,
          NODE_ENV: 'production',
          GATEWAY_PORT: String(port),
          ARTIFACTS_SUBGRAPH_URL: `http://127.0.0.1:${deadPort}/graphql`, // nothing listens there
        },
        port,
      );
      try {
        await waitFor(async () => (await fetch(`${prod.url}/health/live`).catch(() => null))?.ok, {
          timeoutMs: 60_000,
        });
        const url = `${prod.url}/graphql`;
        const { key } = await stack.createKey('acme', ['jobs:read', 'artifacts:read']);
        const intro = await gql(url, key, '{ __schema { types { name } } }');
        expect(intro.body.data).toBeUndefined();
        expect(intro.body.errors?.[0]?.message).toMatch(/introspection/i);
        const ws = wsClient(url.replace('http', 'ws'), key);
        const wsIntro = collect(ws, '{ __schema { types { name } } }');
        expect(await wsIntro.done).toBe('error');
        expect((wsIntro.error as Array<{ message: string }>)[0]!.message).toMatch(/introspection/i);
        await ws.dispose();
        const down = await gql(url, key, '{ artifact(id: "a1") { id } }');
        const text = JSON.stringify(down.body);
        expect(down.body.errors?.[0]?.extensions?.code).toMatch(/UNAVAILABLE|INTERNAL_SERVER_ERROR/);
        expect(text).not.toMatch(/127\.0\.0\.1|localhost|stacktrace|ECONNREFUSED|\/work\//);
      } finally {
        await prod.stop();
      }
    }, 120_000);
  });

  describe('supergraph hot reload', () => {
    it('picks up a changed supergraph file and keeps the old one when the new one is broken', async () => {
      const original = readFileSync(stack.supergraphPath, 'utf8');
      const { key } = await stack.createKey('acme', ['jobs:read']);
      const hasField = async () => {
        const r = await gql(stack.url, key, '{ __type(name: "Mutation") { fields { name } } }');
        return (r.body.data?.__type?.fields ?? [])
          .map((f: { name: string }) => f.name)
          .includes('revokeApiKey');
      };
      expect(await hasField()).toBe(true);
      // A supergraph without the apikeys subgraph's mutations: remove the revokeApiKey field.
      writeFileSync(
        stack.supergraphPath,
        original.replace(/\n\s*(?:"""[^"]*"""\n\s*)?revokeApiKey\(id: ID!\): Boolean![^\n]*/, ''),
      );
      await waitFor(async () => !(await hasField()), { timeoutMs: 10_000 });
      writeFileSync(stack.supergraphPath, 'this is not a supergraph');
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await gql(stack.url, key, '{ templates { name } }')).status).toBe(200);
      writeFileSync(stack.supergraphPath, original);
      await waitFor(() => hasField(), { timeoutMs: 10_000 });
    }, 60_000);
  });
});
