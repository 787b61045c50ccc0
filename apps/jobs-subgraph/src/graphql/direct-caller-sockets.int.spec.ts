import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import {
  ApiKeyStore,
  CachedApiKeyVerifier,
  CONNECTION_REFUSED_CLOSE,
  ConnectionQuota,
  connectionSlotsKey,
  SharedSubscriptionSlots,
  SubgraphAuthenticator,
  TokenBucketLimiter,
} from '#libs/auth';
import { waitFor } from '#libs/testing';
import type { CoreHarness } from '../../test/harness.js';
import { serveGraphql, startGraphqlHarness, type GraphqlHarness } from '../../test/graphql-harness.js';
import { TEST_SECRET, wsClient } from '../../test/graphql-client.js';
import { createJobsGraphql, WS_KEY_RECHECK_MS } from './graphql-server.js';

/*
 * Direct API-key callers (SUBGRAPH_ACCEPT=api-key: a foreign router forwarding the client's key) hold graphql-ws
 * connections as our gateway's clients do: a revoked key's open subscriptions must end as an HTTP request of it
 * would be refused: at once when the revocation is pushed to the key cache, within a re-check when it is not.
 */
describe('jobs subgraph graphql-ws: a direct API-key caller whose key is revoked', () => {
  let harness: GraphqlHarness;
  let core: CoreHarness;
  let store: ApiKeyStore;

  beforeAll(async () => {
    harness = await startGraphqlHarness();
    ({ core } = harness);
    store = new ApiKeyStore(core.redis);
  });
  afterAll(() => harness?.stop());

  /** The jobs subgraph accepting API keys, verified from `verifier` (the store, or a cache in front of it). */
  async function directServer(
    verifier: ApiKeyStore | CachedApiKeyVerifier,
    log?: (err: unknown) => void,
    connectionQuota = harness.connectionQuota,
  ) {
    const auth = new SubgraphAuthenticator({
      accept: ['api-key'],
      identitySecrets: TEST_SECRET,
      apiKeys: {
        store: verifier,
        limiter: new TokenBucketLimiter(core.redis, { perMinute: 6_000, burst: 1_000 }),
      },
    });
    const graphql = await createJobsGraphql(core.service, {
      authenticator: auth,
      production: true,
      subscriptionQuota: harness.subscriptionQuota,
      connectionQuota,
      log,
    });
    const http = await serveGraphql(graphql, { websocket: true });
    return {
      url: `${http.url.replace(/^http/, 'ws')}/graphql`,
      httpUrl: http.url,
      stop: async () => {
        await graphql.stop();
        await http.close();
      },
    };
  }

  /** A live jobFeed subscription of `key`; `closedWith` records the socket's close code. */
  async function openFeed(url: string, key: string) {
    let closedWith: number | undefined;
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: 0,
      on: { closed: (e) => void (closedWith = (e as { code: number }).code) },
    });
    let acked = false;
    client.on('connected', () => (acked = true));
    let ended: 'error' | 'complete' | undefined;
    client.subscribe(
      { query: 'subscription { jobFeed { type } }' },
      { next: () => undefined, error: () => (ended = 'error'), complete: () => (ended = 'complete') },
    );
    await waitFor(() => acked, { timeoutMs: 5_000, what: 'the connection to be acknowledged' });
    await new Promise((r) => setTimeout(r, 200)); // subscribed
    return { client, closedWith: () => closedWith, ended: () => ended };
  }

  it('closes a connection past MAX_CONNECTIONS_PER_KEY (1013, before connection_ack), counted with every replica and the gateway', async () => {
    const slots = new SharedSubscriptionSlots(core.redis, { redisKey: connectionSlotsKey });
    const server = await directServer(store, undefined, new ConnectionQuota(2, slots));
    const sockets: WebSocket[] = [];
    /** One raw graphql-ws connection of `key`: acknowledged, or the close it got. */
    const connect = async (key: string) => {
      const socket = new WebSocket(server.url, 'graphql-transport-ws');
      sockets.push(socket);
      const outcome = new Promise<string>((resolve) => {
        socket.on('message', (m) => {
          if ((JSON.parse(String(m)) as { type: string }).type === 'connection_ack') resolve('ack');
        });
        socket.on('close', (code, reason) => resolve(`${code} ${String(reason)}`));
      });
      await new Promise((r) => socket.once('open', r));
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } }));
      return outcome;
    };
    try {
      const { key, record } = await store.create({
        tenant: 'acme',
        scopes: ['jobs:read'],
        name: 'many-sockets',
      });
      const other = await store.create({ tenant: 'acme', scopes: ['jobs:read'], name: 'other-sockets' });
      expect(await connect(key)).toBe('ack');
      expect(await connect(key)).toBe('ack');
      // the old server acknowledged every connection, without bound
      expect(await connect(key)).toBe(`${CONNECTION_REFUSED_CLOSE} at most 2 open connections per API key`);
      expect(await connect(other.key)).toBe('ack');
      expect(await core.redis.zcard(connectionSlotsKey(record.id))).toBe(2);
      // a closed connection gives its slot back
      sockets[0]!.close();
      await waitFor(async () => (await core.redis.zcard(connectionSlotsKey(record.id))) === 1, {
        timeoutMs: 5_000,
      });
      expect(await connect(key)).toBe('ack');
    } finally {
      for (const s of sockets) s.close();
      await server.stop();
      await slots.close();
    }
  });

  it('closes (4403) at once when the revocation is pushed to the key cache', async () => {
    const subscriber = new Redis(harness.redisUrl);
    // A TTL far past the test: only the push can close the socket (the re-check reads the cached entry), so the
    // bound below can have headroom for a loaded machine and still tell the push from the re-check.
    const cache = new CachedApiKeyVerifier(store, subscriber, { ttlMs: 60_000, maxEntries: 100 });
    await cache.start();
    const server = await directServer(cache);
    try {
      const { key, record } = await store.create({ tenant: 'acme', scopes: ['jobs:read'], name: 'doomed' });
      const feed = await openFeed(server.url, key);
      const revokedAt = Date.now();
      await store.revoke(record.id);
      await waitFor(() => feed.closedWith() === 4403, { timeoutMs: 5_000, what: 'the socket to close 4403' });
      expect(Date.now() - revokedAt).toBeLessThan(2_000);
      expect(feed.ended()).toBe('error');
      await feed.client.dispose();
    } finally {
      await server.stop();
      cache.close();
      subscriber.disconnect();
    }
  });

  it('without a cache (no push), closes within the re-check', async () => {
    const server = await directServer(store);
    try {
      const { key, record } = await store.create({ tenant: 'acme', scopes: ['jobs:read'], name: 'doomed-2' });
      const feed = await openFeed(server.url, key);
      const revokedAt = Date.now();
      await store.revoke(record.id);
      await waitFor(() => feed.closedWith() === 4403, { timeoutMs: 5_000, what: 'the socket to close 4403' });
      // one re-check period, with headroom for a late timer on a loaded machine (never is the waitFor above)
      expect(Date.now() - revokedAt).toBeLessThan(3 * WS_KEY_RECHECK_MS);
      await feed.client.dispose();
    } finally {
      await server.stop();
    }
  });

  it('refuses a bad document over graphql-ws with the code HTTP gives it, not an internal error', async () => {
    const server = await directServer(store);
    try {
      const { key } = await store.create({ tenant: 'acme', scopes: ['jobs:read'], name: 'typo' });
      const client = createClient({
        url: server.url,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${key}` },
        retryAttempts: 0,
      });
      const codeOf = (query: string) =>
        new Promise<unknown>((resolve) => {
          client.subscribe(
            { query },
            {
              next: () => undefined,
              error: (e) => resolve((e as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code),
              complete: () => resolve('complete'),
            },
          );
        });
      expect(await codeOf('subscription { jobFeed { nope } }')).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(await codeOf('subscription { jobFeed {')).toBe('GRAPHQL_PARSE_FAILED');
      await client.dispose();
    } finally {
      await server.stop();
    }
  });

  /** Each operation's error codes over graphql-ws, whether they come in a `next` or an `error` message. */
  async function wsCodes(client: Client, ops: Array<{ query: string; variables?: Record<string, unknown> }>) {
    const codes: unknown[] = [];
    for (const op of ops)
      codes.push(
        await new Promise<unknown>((resolve) => {
          const errorCodes = (errors: unknown) =>
            (errors as Array<{ extensions?: { code?: string } }>).map((e) => e.extensions?.code);
          client.subscribe(op, {
            next: (r) => r.errors && resolve(errorCodes(r.errors)),
            error: (e) => resolve(errorCodes(e)),
            complete: () => resolve('complete'),
          });
        }),
      );
    return codes;
  }

  /** Variable errors: graphql-js coerces them inside execute/subscribe, after onSubscribe. */
  const BAD_VARIABLES = [
    // a missing required variable, of a query and of a subscription
    { query: 'query ($id: ID!) { job(id: $id) { id } }' },
    { query: 'subscription ($jobId: ID!) { jobEvents(jobId: $jobId) { seq } }' },
    // a variable of the wrong type, of a query and of a subscription
    {
      query: 'query ($first: Int) { jobs(first: $first) { edges { cursor } } }',
      variables: { first: 'ten' },
    },
    {
      query: 'subscription ($jobId: ID!) { jobEvents(jobId: $jobId) { seq } }',
      variables: { jobId: { x: 1 } },
    },
  ];

  it('answers a variable error over graphql-ws BAD_USER_INPUT as HTTP does, and logs no internal error', async () => {
    const logged: unknown[] = [];
    const server = await directServer(store, (e) => logged.push(e));
    try {
      const { key } = await store.create({ tenant: 'acme', scopes: ['jobs:read'], name: 'vars' });
      for (const op of BAD_VARIABLES) {
        const res = await fetch(`${server.httpUrl}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify(op),
        });
        const body = (await res.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
        expect(body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
      }
      const client = createClient({
        url: server.url,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${key}` },
        retryAttempts: 0,
      });
      expect(await wsCodes(client, BAD_VARIABLES)).toEqual(BAD_VARIABLES.map(() => ['BAD_USER_INPUT']));
      await client.dispose();
      expect(logged).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('answers a variable error BAD_USER_INPUT to our gateway over graphql-ws too (it passes the code on)', async () => {
    const logged: unknown[] = [];
    const graphql = await createJobsGraphql(core.service, {
      identitySecret: TEST_SECRET,
      production: true,
      log: (e) => logged.push(e),
    });
    const http = await serveGraphql(graphql, { websocket: true });
    try {
      const client = wsClient(http.url);
      expect(await wsCodes(client, BAD_VARIABLES)).toEqual(BAD_VARIABLES.map(() => ['BAD_USER_INPUT']));
      await client.dispose();
      expect(logged).toEqual([]);
    } finally {
      await graphql.stop();
      await http.close();
    }
  });
});
