import type { SubmitJobInput } from '#libs/contracts';
import { ApiKeyStore, rateLimitKey, SubgraphAuthenticator, TokenBucketLimiter } from '#libs/auth';
import { serveGraphql, startGraphqlHarness, type GraphqlHarness } from '../../test/graphql-harness.js';
import { TEST_SECRET } from '../../test/graphql-client.js';
import { createJobsGraphql, type JobsGraphql } from './graphql-server.js';

type SubmitJobNode = NonNullable<SubmitJobInput['graph']>['nodes'][number];

const BURST = 10;
const ALIASES = 20;

/**
 * The planner's costliest kind of input (planner-property.int.spec.ts: a 200-node graph, about 100 ms of CPU),
 * here with every node but the first reading its upstream's output, and the last naming an unknown task, so the
 * plan is refused after the work and planned a second time against a freshly read catalog (JobsService.plan).
 */
const heavyInvalidGraph = (): SubmitJobInput => ({
  graph: {
    nodes: Array.from({ length: 200 }, (_, i): SubmitJobNode =>
      i === 0
        ? { id: 'n0', task: 'test.emit', inputs: { value: 1 } }
        : {
            id: `n${i}`,
            task: i === 199 ? 'test.nope' : 'test.add',
            inputs: { a: { $ref: `n${i - 1}.outputs.${i === 1 ? 'value' : 'sum'}` }, b: i },
          },
    ),
  },
});

/**
 * s15 hostile-tenant review: `validateGraph` runs the whole planner, but spent no rate-limit token of its own, so one
 * request of MAX_ROOT_FIELDS (20) aliased `validateGraph(input: $in)` fields, all reusing one variable of up to
 * PLANNER_MAX_INPUT_BYTES, cost one token and 20-40 plans on the jobs subgraph's single event loop, where the
 * scheduler and every tenant's submits run too. Now each field is charged as a submitJob field is (rateLimitUnits,
 * at our gateway and at a subgraph called directly), before any runs: here BAD_USER_INPUT over the burst.
 */
describe('validateGraph spends a rate-limit token per plan, as submitJob does', () => {
  let harness: GraphqlHarness;
  let direct: JobsGraphql;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    harness = await startGraphqlHarness();
    const auth = new SubgraphAuthenticator({
      accept: ['api-key'],
      identitySecrets: TEST_SECRET,
      // 1 a minute: no refill worth counting during a test
      apiKeys: {
        store: new ApiKeyStore(harness.core.redis),
        limiter: new TokenBucketLimiter(harness.core.redis, { perMinute: 1, burst: BURST }),
      },
    });
    direct = await createJobsGraphql(harness.core.service, {
      authenticator: auth,
      production: true,
      subscriptionQuota: harness.subscriptionQuota,
      connectionQuota: harness.connectionQuota,
    });
    const http = await serveGraphql(direct, { websocket: false });
    url = `${http.url}/graphql`;
    close = () => http.close();
  });
  afterAll(async () => {
    await direct?.stop();
    await close?.();
    await harness?.stop();
  });

  it(`refuses ${ALIASES} aliased validateGraph fields past a burst of ${BURST}, as it refuses as many submitJob fields`, async () => {
    const { key, record } = await new ApiKeyStore(harness.core.redis).create({
      tenant: 'planner-hog',
      scopes: ['jobs:read'],
      name: 'validate',
    });
    const query = `query($in: SubmitJobInput!) { ${Array.from(
      { length: ALIASES },
      (_, i) => `v${i}: validateGraph(input: $in) { valid }`,
    ).join(' ')} }`;
    const started = Date.now();
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables: { in: heavyInvalidGraph() } }),
    });
    const body = (await res.json()) as {
      data?: Record<string, unknown> | null;
      errors?: Array<{ extensions?: Record<string, unknown> }>;
    };
    const tokensLeft = Math.floor(Number(await harness.core.redis.hget(rateLimitKey(record.id), 'tokens')));
    // the evidence, whatever the outcome: how long the subgraph planned for this one request, and what it paid
    console.info(
      `${ALIASES} aliased validateGraph: ${Date.now() - started} ms, ${BURST - tokensLeft} token(s) spent, ` +
        `${Object.keys(body.data ?? {}).length} fields answered`,
    );
    expect(body.data ?? undefined).toBeUndefined();
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      max: BURST,
      requested: ALIASES,
    });
  }, 60_000);
});
