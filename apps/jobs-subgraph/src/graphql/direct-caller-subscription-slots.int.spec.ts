import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import {
  ApiKeyStore,
  SharedSubscriptionSlots,
  SubgraphAuthenticator,
  SubscriptionQuota,
  subscriptionSlotsKey,
  TokenBucketLimiter,
} from '#libs/auth';
import { waitFor } from '#libs/testing';
import { serveGraphql, startGraphqlHarness, type GraphqlHarness } from '../../test/graphql-harness.js';
import { identityFor, TEST_SECRET } from '../../test/graphql-client.js';
import { createJobsGraphql, type JobsGraphql } from './graphql-server.js';

const FEED = 'subscription { jobFeed { type } }';
const EVENTS = 'subscription($id: ID!) { jobEvents(jobId: $id) { seq type } }';

type Outcome = { state: 'live' | 'completed' } | { state: 'refused'; code?: string; limit?: string };

/**
 * The slots a direct caller's subscriptions hold on the jobs subgraph (2 per connection, 3 per key here): taken only
 * by subscriptions (not queries over the socket), given back however one ends, and never taken for our gateway's
 * own connections (their clients are counted at the gateway).
 */
describe('jobs subgraph graphql-ws: subscription slots of direct callers', () => {
  let harness: GraphqlHarness;
  let store: ApiKeyStore;
  let slots: SharedSubscriptionSlots;
  let auth: SubgraphAuthenticator;
  let graphql: JobsGraphql;
  let url: string;
  let closeHttp: () => Promise<void>;
  const clients: Client[] = [];

  beforeAll(async () => {
    harness = await startGraphqlHarness();
    store = new ApiKeyStore(harness.core.redis);
    slots = new SharedSubscriptionSlots(harness.core.redis);
    auth = new SubgraphAuthenticator({
      accept: ['api-key', 'gateway'],
      identitySecrets: TEST_SECRET,
      apiKeys: {
        store,
        limiter: new TokenBucketLimiter(harness.core.redis, { perMinute: 60_000, burst: 5_000 }),
      },
    });
    graphql = await createJobsGraphql(harness.core.service, {
      authenticator: auth,
      production: true,
      subscriptionQuota: new SubscriptionQuota(2, 3, slots),
      connectionQuota: harness.connectionQuota,
    });
    const http = await serveGraphql(graphql, { websocket: true });
    url = `${http.url.replace(/^http/, 'ws')}/graphql`;
    closeHttp = () => http.close();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await graphql?.stop();
    await closeHttp?.();
    await slots?.close();
    await harness?.stop();
  });

  const newKey = async (name: string) => {
    const { key, record } = await store.create({ tenant: 'slots', scopes: ['jobs:read'], name });
    return { key, held: () => harness.core.redis.zcard(subscriptionSlotsKey(record.id)) };
  };

  function connect(connectionParams: Record<string, string>): Client {
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts: 0,
      lazy: false,
    });
    clients.push(client);
    return client;
  }
  const withKey = (key: string) => connect({ authorization: `Bearer ${key}` });

  /** A subscription whose outcome is observed; `settled` resolves once it completed or was refused. */
  function subscribe(client: Client, query: string, variables: Record<string, unknown> = {}) {
    const outcome: { now: Outcome } = { now: { state: 'live' } };
    let settle!: () => void;
    const settled = new Promise<void>((r) => (settle = r));
    const refuse = (errors: unknown) => {
      const ext = (errors as Array<{ extensions?: { code?: string; limit?: string } }>)[0]?.extensions;
      outcome.now = { state: 'refused', code: ext?.code, limit: ext?.limit };
      settle();
    };
    const stop = client.subscribe(
      { query, variables },
      {
        next: (r) => void (r.errors && refuse(r.errors)),
        error: refuse,
        complete: () => {
          if (outcome.now.state === 'live') outcome.now = { state: 'completed' };
          settle();
        },
      },
    );
    return { outcome, settled, stop };
  }
  /** Long enough for a refusal to have come back over loopback. */
  const settle = () => new Promise((r) => setTimeout(r, 500));

  it('refuses a third subscription on one connection (RATE_LIMITED, limit subscriptionsPerConnection); queries take no slot', async () => {
    const { key, held } = await newKey('per-connection');
    const client = withKey(key);
    const feeds = [subscribe(client, FEED), subscribe(client, FEED)];
    const query = subscribe(client, '{ __typename }');
    await query.settled;
    expect(query.outcome.now).toEqual({ state: 'completed' });
    const third = subscribe(client, FEED);
    await third.settled;
    expect(third.outcome.now).toEqual({
      state: 'refused',
      code: 'RATE_LIMITED',
      limit: 'subscriptionsPerConnection',
    });
    expect(feeds.map((f) => f.outcome.now.state)).toEqual(['live', 'live']);
    // the two feeds' slots may still be on their way to Redis when the refusal comes back (a loaded machine);
    // a refusal that took a slot would have taken it before answering: 3 would never go back to 2
    await waitFor(async () => (await held()) === 2, { timeoutMs: 5_000, what: 'the two feeds’ slots' });
  });

  it('refuses past 3 per key across connections (limit subscriptionsPerKey), and takes nothing for the refusal', async () => {
    const { key, held } = await newKey('per-key');
    const a = withKey(key);
    const b = withKey(key);
    subscribe(a, FEED);
    subscribe(a, FEED);
    subscribe(b, FEED);
    await waitFor(async () => (await held()) === 3, { timeoutMs: 5_000, what: 'three slots' });
    const fourth = subscribe(b, FEED);
    await fourth.settled;
    expect(fourth.outcome.now).toMatchObject({
      state: 'refused',
      code: 'RATE_LIMITED',
      limit: 'subscriptionsPerKey',
    });
    expect(await held()).toBe(3);
  });

  it('gives a slot back when the client completes, when the subscription ends or fails, and when the socket closes', async () => {
    const { key, held } = await newKey('release');
    const client = withKey(key);
    const first = subscribe(client, FEED);
    subscribe(client, FEED);
    await waitFor(async () => (await held()) === 2, { timeoutMs: 5_000, what: 'two slots' });

    // the client's complete
    first.stop();
    await waitFor(async () => (await held()) === 1, { timeoutMs: 5_000, what: 'slot of the completed feed' });

    // the subscription ends by itself: jobEvents completes after the job's final event
    const job = await harness.core.service.submitJob('slots', {
      graph: { nodes: [{ id: 'a', task: 'test.emit', inputs: { value: 1 } }] },
    });
    const events = subscribe(client, EVENTS, { id: job.job.id });
    await events.settled;
    expect(events.outcome.now).toEqual({ state: 'completed' });
    await waitFor(async () => (await held()) === 1, {
      timeoutMs: 5_000,
      what: 'slot of the finished jobEvents',
    });

    // the subscription fails: another tenant's (here: no) job
    const missing = subscribe(client, EVENTS, { id: 'no-such-job' });
    await missing.settled;
    expect(missing.outcome.now).toMatchObject({ state: 'refused', code: 'NOT_FOUND' });
    await waitFor(async () => (await held()) === 1, {
      timeoutMs: 5_000,
      what: 'slot of the failed jobEvents',
    });

    // all three ended: the connection holds one slot and may take one more, not two
    const again = subscribe(client, FEED);
    const over = subscribe(client, FEED);
    await over.settled;
    expect(over.outcome.now).toMatchObject({ state: 'refused', limit: 'subscriptionsPerConnection' });
    expect(again.outcome.now.state).toBe('live');
    expect(await held()).toBe(2);

    // the socket closes: every slot it held is given back
    await client.dispose();
    await waitFor(async () => (await held()) === 0, { timeoutMs: 5_000, what: 'slots of the closed socket' });
  }, 30_000);

  it('refuses to serve api-key or jwt callers without a subscription quota (a wiring error, at start)', async () => {
    await expect(
      createJobsGraphql(harness.core.service, { authenticator: auth, production: true }),
    ).rejects.toThrow(/accepting api-key callers needs a subscription quota/);
  });

  it("counts nothing for our gateway's own connections (their clients are counted at the gateway)", async () => {
    const client = connect({ identity: identityFor('slots', ['jobs:read']) });
    const feeds = [1, 2, 3, 4].map(() => subscribe(client, FEED));
    await settle();
    expect(feeds.map((f) => f.outcome.now.state)).toEqual(['live', 'live', 'live', 'live']);
    expect(await harness.core.redis.zcard(subscriptionSlotsKey('key-slots'))).toBe(0);
  });
});
