import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ApiKeyStore, rateLimitKey, SubgraphAuthenticator, TokenBucketLimiter } from '#libs/auth';
import { OPERATION_LIMITS } from '#libs/graphql-cost';
import { registry } from '#libs/observability';
import {
  serveGraphql,
  startGraphqlHarness,
  type GraphqlHarness,
  type ServedGraphql,
} from '../../test/graphql-harness.js';
import { graphqlRequest, identityFor, TEST_SECRET } from '../../test/graphql-client.js';
import { allEvents } from '../../test/scenario.js';
import { JOB_KEYS } from '../scheduler/keys.js';
import { createJobsGraphql, type JobsGraphql } from './graphql-server.js';

/** Every field of a job's nodes: Job.nodes counts 200 (@listSize assumedSize), so a job costs ~3,000. */
const JOB_FIELDS = `id labels nodes { id task taskVersion status progress message attempts outputs
  error { code message retryable } workerId startedAt finishedAt }`;
/** A page of 20 such jobs (Query.jobs @listSize assumedSize 20 on edges): ~64,000, over MAX_QUERY_COST 25,000. */
const HEAVY_PAGE = `{ jobs { edges { node { ${JOB_FIELDS} } } } }`;
/** The red team's subscription (as in the gateway's e2e): every event resolves the whole job again. */
const HEAVY_EVENTS = `subscription($j: ID!) { jobEvents(jobId: $j) { seq cursor type job { ${JOB_FIELDS} } } }`;
const BURST = 4;
const NODES = 40;

/** switchyard_direct_operations_refused_total for `reason` (0 when never counted). */
async function refusals(reason: string): Promise<number> {
  const metric = registry.getSingleMetric('switchyard_direct_operations_refused_total');
  const values = (await metric?.get())?.values ?? [];
  return values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

type Result = { data?: any; errors?: Array<{ message: string; extensions?: Record<string, any> }> };

/*
 * Fails on the code before this change: a direct API-key caller of the jobs subgraph (SUBGRAPH_ACCEPT=api-key) was
 * bounded in root fields and aliases only, so the heavy page below ran (our gateway refuses it: cost), and its
 * subscriptions' events were never charged, so the heavy subscription below got every event of the job on a 4-token
 * bucket and was never ended (our gateway ends it RATE_LIMITED after ~25 events).
 */
describe('the jobs subgraph, called directly with an API key: operation cost and per-event charge as at our gateway', () => {
  let harness: GraphqlHarness;
  let direct: JobsGraphql;
  let http: ServedGraphql;
  const clients: Client[] = [];
  const store = () => new ApiKeyStore(harness.core.redis);

  beforeAll(async () => {
    harness = await startGraphqlHarness({
      core: { quotas: { maxActiveJobs: 1000, maxQueuedNodes: 10_000 } },
    });
    const auth = new SubgraphAuthenticator({
      accept: ['api-key', 'gateway'],
      identitySecrets: TEST_SECRET,
      // 1 a minute: no refill worth counting during a test
      apiKeys: {
        store: store(),
        limiter: new TokenBucketLimiter(harness.core.redis, { perMinute: 1, burst: BURST }),
      },
      // the defaults, as the config gives them (MAX_QUERY_COST 25,000…)
      operationLimits: OPERATION_LIMITS,
    });
    direct = await createJobsGraphql(harness.core.service, {
      authenticator: auth,
      production: true,
      subscriptionQuota: harness.subscriptionQuota,
      connectionQuota: harness.connectionQuota,
    });
    http = await serveGraphql(direct, { websocket: true });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await direct?.stop();
    await http?.close();
    await harness?.stop();
  });

  const newKey = async (tenant: string, scopes: Array<'jobs:read' | 'jobs:write'>) => {
    const { key, record } = await store().create({ tenant, scopes, name: 't' });
    return {
      key,
      tokens: async () =>
        Math.floor(Number(await harness.core.redis.hget(rateLimitKey(record.id), 'tokens'))),
    };
  };
  const post = async (key: string, query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(`${http.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, ...((await res.json()) as Result) };
  };
  const connect = (key: string) => {
    const client = createClient({
      url: `${http.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: 0,
      lazy: false,
    });
    clients.push(client);
    return client;
  };
  /** Every result of one operation until it completes or errors. */
  const run = (client: Client, query: string, variables: Record<string, unknown> = {}) => {
    const results: Result[] = [];
    const done = new Promise<'complete' | 'error'>((resolve) =>
      client.subscribe(
        { query, variables },
        {
          next: (r) => void results.push(r as Result),
          error: (e) => {
            results.push({ errors: e as Result['errors'] });
            resolve('error');
          },
          complete: () => resolve('complete'),
        },
      ),
    );
    return { results, done };
  };

  it("refuses an operation over MAX_QUERY_COST, priced with the subgraph's @listSize (QUERY_TOO_COMPLEX, limits), before anything runs", async () => {
    const { key, tokens } = await newKey('cost', ['jobs:read', 'jobs:write']);
    const costRefusals = await refusals('cost');
    const page = await post(key, HEAVY_PAGE);
    expect(page.status).toBe(400);
    expect(page.data).toBeUndefined();
    const [error] = page.errors!;
    expect(error!.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      limits: [{ limit: 'cost', max: OPERATION_LIMITS.maxCost }],
    });
    // 20 jobs (Query.jobs assumedSize, on edges) × 200 nodes (Job.nodes assumedSize) × 15 fields: 60,082 with the
    // subgraph's directives (each list counted 20 without them: 6,080, which would pass)
    expect(error!.extensions!.limits[0].actual).toBeGreaterThan(50_000);
    expect(error!.message).toMatch(/^operation too complex: cost \d+ > 25000$/);

    // nine submits returning their whole jobs (3,013 each): within every other bound, over the cost; no job
    // submitted, and only the request's own token taken (the jobs' tokens are charged after the bounds)
    const submits = `mutation($in: SubmitJobInput!) { ${Array.from(
      { length: 9 },
      (_, i) => `s${i}: submitJob(input: $in) { ${JOB_FIELDS} }`,
    ).join(' ')} }`;
    const input = { in: { graph: { nodes: [{ id: 'a', task: 'test.emit', inputs: { value: 1 } }] } } };
    const refused = await post(key, submits, input);
    expect(refused.status).toBe(400);
    expect(refused.data).toBeUndefined();
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      limits: [{ limit: 'cost' }],
    });
    expect(await harness.core.redis.zcard(JOB_KEYS.tenantJobs('cost'))).toBe(0);
    expect(await tokens()).toBe(BURST - 2);

    // over graphql-ws too, the socket kept
    const ws = run(connect(key), HEAVY_PAGE);
    expect(await ws.done).toBe('error');
    expect(ws.results.at(-1)!.errors?.[0]?.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      limits: [{ limit: 'cost' }],
    });

    // each refusal counted (HTTP page, submits, graphql-ws page)
    expect(await refusals('cost')).toBe(costRefusals + 3);

    // a page our gateway allows (first: 5, nodes(first: 10)) is answered
    const reader = (await newKey('cost', ['jobs:read'])).key;
    const fits = await post(
      reader,
      '{ jobs(first: 5) { edges { node { id nodes(first: 10) { id status } } } } }',
    );
    expect(fits.errors).toBeUndefined();
    // a router's entity fetch counts one entity per representation: 5 whole jobs pass, 30 do not
    const entities = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Job { ${JOB_FIELDS} } } }`;
    const reps = (n: number) => ({
      reps: Array.from({ length: n }, (_, i) => ({ __typename: 'Job', id: `j${i}` })),
    });
    expect((await post(reader, entities, reps(5))).errors).toBeUndefined();
    expect((await post(reader, entities, reps(30))).errors?.[0]?.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      limits: [{ limit: 'cost' }],
    });
    // our gateway measured its own callers already: its identity is not measured again
    const viaGateway = await graphqlRequest(http.url, HEAVY_PAGE, {}, identityFor('cost'));
    expect(viaGateway.errors).toBeUndefined();
  });

  it("charges each delivered event its cost to the key's bucket; refused: the subscription ends RATE_LIMITED subscriptionEvents with resumeAfter its last event", async () => {
    // a job that stays unfinished (its nodes held), so the subscription is open whenever the bucket answers
    harness.holdAdds();
    const nodes = Array.from({ length: NODES }, (_, i) => ({
      id: `n${i}`,
      task: 'test.add',
      inputs: { a: i, b: 1 },
    }));
    const { job } = await harness.core.service.submitJob('events', { graph: { nodes } });
    // JOB_QUEUED and a NODE_QUEUED per node, written with the job: more than 4 tokens' worth (~8 events a token)
    expect((await allEvents(harness.core, job.id)).length).toBeGreaterThan(NODES);

    const { key, tokens } = await newKey('events', ['jobs:read']);
    const eventRefusals = await refusals('subscriptionEvents');
    const heavy = run(connect(key), HEAVY_EVENTS, { j: job.id });
    // as at our gateway: a last `next` with the error, then `complete`
    expect(await heavy.done).toBe('complete');
    const last = heavy.results.at(-1)!;
    const delivered = heavy.results
      .slice(0, -1)
      .map((r) => r.data.jobEvents as { seq: number; cursor: string });
    expect(last.data).toBeUndefined();
    const [error] = last.errors!;
    expect(error!.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'subscriptionEvents' });
    expect(error!.extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(error!.message).toMatch(/resubscribe with after/);
    // the connection and the subscribe took a token each, the events the other two: refused only once a third
    // was owed (3 × 25,000 of ~3,000 an event: 25 events)
    expect(delivered.length).toBeGreaterThanOrEqual(20);
    expect(delivered.map((e) => e.seq)).toEqual(delivered.map((_, i) => i + 1));
    expect(error!.extensions!.resumeAfter).toBe(delivered.at(-1)!.cursor);
    // the 2 tokens left after the subscribe went to its events (a refused take takes none)
    expect(await tokens()).toBeLessThan(2);
    expect(await refusals('subscriptionEvents')).toBe(eventRefusals + 1);
    harness.releaseAdds();
  }, 30_000);
});
