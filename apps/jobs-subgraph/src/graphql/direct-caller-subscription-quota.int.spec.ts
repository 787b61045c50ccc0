import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ApiKeyStore, SubgraphAuthenticator, subscriptionSlotsKey, TokenBucketLimiter } from '#libs/auth';
import { registry } from '#libs/observability';
import { waitFor } from '#libs/testing';
import { serveGraphql, startGraphqlHarness, type GraphqlHarness } from '../../test/graphql-harness.js';
import { TEST_SECRET } from '../../test/graphql-client.js';
import { createJobsGraphql } from './graphql-server.js';

/*
 * REVIEW FINDING (s15 hostile-tenant review), fails on the current code: a direct API-key caller of the jobs
 * subgraph (SUBGRAPH_ACCEPT=api-key, e.g. a foreign router forwarding a client's key) is not bounded in how many
 * subscriptions it holds open. Our gateway caps them (MAX_SUBSCRIPTIONS_PER_CONNECTION 100,
 * MAX_SUBSCRIPTIONS_PER_KEY 1000); the subgraph's graphql-ws server has no cap at all, only the rate limit on
 * new subscribes. `jobFeed` never completes, so at 600 subscribes a minute one key holds 36,000 live followers
 * after an hour, each one re-reading the tenant's feed in Redis (shared by every tenant) on every feed event,
 * and each holding a SUBSCRIBER_BUFFER in the subgraph's memory.
 *
 * Expected (the fix): the same two bounds as at our gateway for callers that did not come through it, refused
 * with RATE_LIMITED (`extensions.limit` naming which).
 */
describe('jobs subgraph graphql-ws: live subscriptions of a direct API-key caller are bounded', () => {
  let harness: GraphqlHarness;
  let store: ApiKeyStore;
  let url: string;
  let stopServer: () => Promise<void>;
  const clients: Client[] = [];

  beforeAll(async () => {
    harness = await startGraphqlHarness();
    store = new ApiKeyStore(harness.core.redis);
    const auth = new SubgraphAuthenticator({
      accept: ['api-key'],
      identitySecrets: TEST_SECRET,
      apiKeys: {
        store,
        // generous: the rate limit is not what is under test
        limiter: new TokenBucketLimiter(harness.core.redis, { perMinute: 60_000, burst: 5_000 }),
      },
    });
    const graphql = await createJobsGraphql(harness.core.service, {
      authenticator: auth,
      production: true,
      subscriptionQuota: harness.subscriptionQuota,
      connectionQuota: harness.connectionQuota,
    });
    const http = await serveGraphql(graphql, { websocket: true });
    url = `${http.url.replace(/^http/, 'ws')}/graphql`;
    stopServer = async () => {
      await graphql.stop();
      await http.close();
    };
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await stopServer?.();
    await harness?.stop();
  });

  /** switchyard_subscription_quota_refusals_total{limit} now: the refusals operators see. */
  async function refusalsCounted(limit: string): Promise<number> {
    const counter = registry.getSingleMetric('switchyard_subscription_quota_refusals_total');
    const values = (await counter?.get())?.values ?? [];
    return values.filter((v) => v.labels.limit === limit).reduce((n, v) => n + v.value, 0);
  }

  function connect(key: string): Client {
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: 0,
      lazy: false,
    });
    clients.push(client);
    return client;
  }

  /** Subscription slots the key holds in Redis (one per accepted subscription). */
  const slotsHeld = (keyId: string) => harness.core.redis.zcard(subscriptionSlotsKey(keyId));

  /**
   * Opens `n` jobFeed subscriptions on `client`; resolves, once each has been accepted (holds a slot) or refused,
   * with the error codes of those refused (the accepted ones stay open: jobFeed never completes).
   */
  async function openFeeds(
    client: Client,
    keyId: string,
    n: number,
    heard = new Set<number>(),
  ): Promise<string[]> {
    const before = await slotsHeld(keyId);
    const refused: string[] = [];
    for (let i = 0; i < n; i++)
      client.subscribe(
        { query: 'subscription { jobFeed { type } }' },
        {
          next: () => void heard.add(i),
          error: (e) =>
            void refused.push(String((e as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code)),
          complete: () => undefined,
        },
      );
    // polled, not slept on: a fixed 1.5 s was tight for 100 subscribes on a loaded CI machine
    await waitFor(async () => refused.length + (await slotsHeld(keyId)) - before >= n, {
      timeoutMs: 20_000,
      what: `${n} subscribes accepted or refused`,
    });
    return refused;
  }

  it('refuses subscriptions past 100 on one connection (as the gateway does)', async () => {
    const { key, record } = await store.create({
      tenant: 'greedy',
      scopes: ['jobs:read'],
      name: 'per-connection',
    });
    const heard = new Set<number>();
    const countedBefore = await refusalsCounted('subscriptionsPerConnection');
    const refused = await openFeeds(connect(key), record.id, 101, heard);
    // every subscription not refused is live: each one hears (and read from Redis) the tenant's feed events (one
    // more job while some have not: a feed whose slot is taken may still be opening its follower on a slow machine)
    await waitFor(
      async () => {
        if (heard.size >= 101 - refused.length) return true;
        await harness.core.service.submitJob('greedy', {
          graph: { nodes: [{ id: 'a', task: 'test.emit', inputs: { value: 1 } }] },
        });
        return false;
      },
      { timeoutMs: 10_000, intervalMs: 500, what: 'every live feed' },
    );
    expect(refused).toContain('RATE_LIMITED');
    // visible to operators, not only to the refused caller
    expect((await refusalsCounted('subscriptionsPerConnection')) - countedBefore).toBe(refused.length);
  }, 30_000);

  it('refuses subscriptions past 1000 per key across connections (as the gateway does)', async () => {
    const { key, record } = await store.create({ tenant: 'greedy', scopes: ['jobs:read'], name: 'per-key' });
    // 100 per connection: within a per-connection cap, so only a per-key cap can refuse the last one
    const results = [];
    const countedBefore = await refusalsCounted('subscriptionsPerKey');
    for (let c = 0; c < 10; c++) results.push(await openFeeds(connect(key), record.id, 100));
    results.push(await openFeeds(connect(key), record.id, 1));
    expect(results.flat()).toContain('RATE_LIMITED');
    expect((await refusalsCounted('subscriptionsPerKey')) - countedBefore).toBe(results.flat().length);
  }, 90_000);
});
