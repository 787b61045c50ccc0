import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ApiKeyStore, rateLimitKey, SubgraphAuthenticator, TokenBucketLimiter } from '#libs/auth';
import { OPERATION_LIMITS } from '#libs/graphql-cost';
import type { CoreHarness } from '../../test/harness.js';
import {
  serveGraphql,
  startGraphqlHarness,
  type GraphqlHarness,
  type ServedGraphql,
} from '../../test/graphql-harness.js';
import { graphqlRequest, identityFor, TEST_SECRET } from '../../test/graphql-client.js';
import { single } from '../../test/scenario.js';
import { JOB_KEYS } from '../scheduler/keys.js';
import { createJobsGraphql, type JobsGraphql } from './graphql-server.js';

type Answer = {
  status: number;
  retryAfter: string | null;
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
};

const BURST = 10;
const aliasedSubmitJob = (n: number) =>
  `mutation($in: SubmitJobInput!) { ${Array.from({ length: n }, (_, i) => `a${i}: submitJob(input: $in) { id }`).join(' ')} }`;
const aliasedSubmitJobs = (n: number) =>
  `mutation($in: SubmitJobInput!) { ${Array.from({ length: n }, (_, i) => `b${i}: submitJobs(inputs: [$in]) { index job { id } }`).join(' ')} }`;

/**
 * SUBGRAPH_ACCEPT=api-key (a foreign router forwarding the client's key): the per-key bucket pays a token per job an
 * operation submits, however it is spelled (aliases, one-input batches), charged once before anything runs; and a
 * direct caller's operation is bounded in root fields and aliases as at our gateway.
 */
describe('the jobs subgraph, called directly with API keys', () => {
  let harness: GraphqlHarness;
  let core: CoreHarness;
  let direct: JobsGraphql;
  let http: ServedGraphql;
  const store = () => new ApiKeyStore(core.redis);

  beforeAll(async () => {
    harness = await startGraphqlHarness({
      core: { quotas: { maxActiveJobs: 1000, maxQueuedNodes: 10_000 } },
    });
    ({ core } = harness);
    const auth = new SubgraphAuthenticator({
      accept: ['api-key', 'gateway'],
      identitySecrets: TEST_SECRET,
      // 1 a minute: no refill worth counting during a test
      apiKeys: {
        store: store(),
        limiter: new TokenBucketLimiter(core.redis, { perMinute: 1, burst: BURST }),
      },
    });
    direct = await createJobsGraphql(core.service, {
      authenticator: auth,
      production: true,
      subscriptionQuota: harness.subscriptionQuota,
      connectionQuota: harness.connectionQuota,
    });
    http = await serveGraphql(direct, { websocket: true });
  });
  afterAll(async () => {
    await direct?.stop();
    await http?.close();
    await harness?.stop();
  });

  const jobCount = (tenant: string) => core.redis.zcard(JOB_KEYS.tenantJobs(tenant));
  /** A fresh key of its own tenant (its bucket full: BURST tokens). */
  const newKey = async (tenant: string) => {
    const { key, record } = await store().create({ tenant, scopes: ['jobs:read', 'jobs:write'], name: 't' });
    return {
      key,
      tokens: async () => Math.floor(Number(await core.redis.hget(rateLimitKey(record.id), 'tokens'))),
    };
  };
  const post = async (
    key: string,
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<Answer> => {
    const res = await fetch(`${http.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return {
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      ...((await res.json()) as object),
    };
  };
  const input = (value: number) => ({ in: single('test.emit', { value }) });

  it('refuses aliased submitJob and one-input submitJobs fields past the burst as a whole: nothing submitted', async () => {
    const { key, tokens } = await newKey('alias-burst');
    for (const query of [aliasedSubmitJob(20), aliasedSubmitJobs(20)]) {
      const r = await post(key, query, input(1));
      expect(r.status).toBe(400);
      expect(r.data).toBeUndefined();
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', max: BURST, requested: 20 });
    }
    expect(await jobCount('alias-burst')).toBe(0);
    // each request spent its own token only
    expect(await tokens()).toBe(BURST - 2);
  });

  it('charges aliased submits a token per job before any runs; too few tokens: RATE_LIMITED, nothing submitted', async () => {
    const { key, tokens } = await newKey('alias-rate');
    const six = await post(key, aliasedSubmitJob(6), input(2));
    expect(six.errors).toBeUndefined();
    expect(Object.keys(six.data!)).toHaveLength(6);
    expect(await jobCount('alias-rate')).toBe(6);
    expect(await tokens()).toBe(BURST - 6);
    // 4 left: the request takes one, its other 5 jobs do not fit; none of its fields runs
    const limited = await post(key, aliasedSubmitJob(6), input(3));
    expect(limited.status).toBe(429);
    expect(limited.retryAfter).toMatch(/^\d+$/);
    expect(limited.data).toBeUndefined();
    expect(limited.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(await jobCount('alias-rate')).toBe(6);
    expect(await tokens()).toBe(3);
    // 3 one-input submitJobs: exactly 3 tokens, 3 jobs
    const three = await post(key, aliasedSubmitJobs(3), input(4));
    expect(three.errors).toBeUndefined();
    expect(await jobCount('alias-rate')).toBe(9);
    expect(await tokens()).toBe(0);
  });

  it('charges a single submitJob exactly 1 token and a submitJobs of k inputs exactly k', async () => {
    const { key, tokens } = await newKey('plain');
    const one = await post(key, 'mutation($in: SubmitJobInput!) { submitJob(input: $in) { id } }', input(5));
    expect(one.errors).toBeUndefined();
    expect(await tokens()).toBe(BURST - 1);
    const inputs = Array.from({ length: 4 }, (_, i) => single('test.emit', { value: i }));
    const four = await post(
      key,
      'mutation($inputs: [SubmitJobInput!]!) { submitJobs(inputs: $inputs) { job { id } } }',
      { inputs },
    );
    expect(four.errors).toBeUndefined();
    expect(await tokens()).toBe(BURST - 5);
    // a query submits nothing: one token
    expect((await post(key, '{ jobs(first: 1) { edges { cursor } } }')).errors).toBeUndefined();
    expect(await tokens()).toBe(BURST - 6);
    expect(await jobCount('plain')).toBe(5);
  });

  it('bounds root fields and aliases of a direct caller as our gateway does (QUERY_TOO_COMPLEX), but not our gateway', async () => {
    const { key, tokens } = await newKey('shape');
    const { maxAliases, maxRootFields } = OPERATION_LIMITS;
    const aliases = `{ ${Array.from({ length: maxAliases + 1 }, (_, i) => `j${i}: jobs(first: 1) { edges { cursor } }`).join(' ')} }`;
    const r = await post(key, aliases);
    expect(r.status).toBe(400);
    expect(r.data).toBeUndefined();
    expect(r.errors?.[0]?.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      limits: [{ limit: 'aliases', actual: maxAliases + 1, max: maxAliases }],
    });
    // aliases through fragments count at every spread
    const fragment = `fragment F on Query { ${Array.from({ length: 8 }, (_, i) => `t${i}: __typename`).join(' ')} }`;
    const spread = await post(key, `{ ...F ... on Query { ...F ...F ...F } } ${fragment}`);
    expect(spread.errors?.[0]?.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      limits: [{ limit: 'aliases', actual: 32 }],
    });
    const roots = `{ ${Array.from({ length: maxRootFields + 1 }, () => `jobs(first: 1) { edges { cursor } }`).join(' ')} }`;
    expect((await post(key, roots)).errors?.[0]?.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      limits: [{ limit: 'rootFields', actual: maxRootFields + 1, max: maxRootFields }],
    });
    // within the bounds: answered
    expect(
      (
        await post(
          key,
          `{ ${Array.from({ length: maxRootFields }, (_, i) => `j${i}: jobs(first: 1) { edges { cursor } }`).join(' ')} }`,
        )
      ).errors,
    ).toBeUndefined();
    expect(await tokens()).toBe(BURST - 4);
    // our gateway bounded its own callers already: its identity passes as before
    const viaGateway = await graphqlRequest(http.url, aliases, {}, identityFor('shape'));
    expect(viaGateway.errors).toBeUndefined();
  });

  it("bounds a direct caller by the deployment's limits (MAX_ROOT_FIELDS, MAX_QUERY_ALIASES) when set", async () => {
    const { key } = await newKey('shape-set');
    const strict = await createJobsGraphql(core.service, {
      authenticator: new SubgraphAuthenticator({
        accept: ['api-key'],
        identitySecrets: TEST_SECRET,
        apiKeys: {
          store: store(),
          limiter: new TokenBucketLimiter(core.redis, { perMinute: 1, burst: BURST }),
        },
        operationLimits: { ...OPERATION_LIMITS, maxRootFields: 2, maxAliases: 1 },
      }),
      production: true,
      subscriptionQuota: harness.subscriptionQuota,
      connectionQuota: harness.connectionQuota,
    });
    const server = await serveGraphql(strict);
    try {
      const ask = async (query: string) => {
        const res = await fetch(`${server.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({ query }),
        });
        return (await res.json()) as Answer;
      };
      const page = 'jobs(first: 1) { edges { cursor } }';
      expect((await ask(`{ ${page} ${page} ${page} }`)).errors?.[0]?.extensions).toMatchObject({
        code: 'QUERY_TOO_COMPLEX',
        limits: [{ limit: 'rootFields', actual: 3, max: 2 }],
      });
      expect((await ask(`{ a: ${page} b: ${page} }`)).errors?.[0]?.extensions).toMatchObject({
        code: 'QUERY_TOO_COMPLEX',
        limits: [{ limit: 'aliases', actual: 2, max: 1 }],
      });
      expect((await ask(`{ a: ${page} ${page} }`)).errors).toBeUndefined();
    } finally {
      await strict.stop();
      await server.close();
    }
  });

  describe('over graphql-ws (which runs mutations too)', () => {
    let client: Client;
    afterEach(() => client?.dispose());

    const run = (query: string, variables: Record<string, unknown>) =>
      new Promise<{ data?: unknown; errors?: Array<{ extensions?: Record<string, unknown> }> }>((resolve) => {
        let data: unknown;
        client.subscribe(
          { query, variables },
          {
            next: (r) => (data = r),
            error: (e) => resolve({ errors: e as Array<{ extensions?: Record<string, unknown> }> }),
            complete: () => resolve(data as { data?: unknown }),
          },
        );
      });

    it('charges a mutation a token per job before it runs, as over HTTP', async () => {
      const { key, tokens } = await newKey('ws');
      client = createClient({
        url: `${http.url.replace(/^http/, 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${key}` },
        retryAttempts: 0,
        // one connection for the whole test (its token counted once)
        lazy: false,
      });
      // past the burst: refused, nothing submitted
      const tooMany = await run(aliasedSubmitJob(20), input(6));
      expect(tooMany.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        max: BURST,
        requested: 20,
      });
      expect(await jobCount('ws')).toBe(0);
      // the connection took a token, and each subscribe one (the refused one too); 4 aliased submits 3 more
      const four = await run(aliasedSubmitJob(4), input(7));
      expect(four.errors).toBeUndefined();
      expect(await jobCount('ws')).toBe(4);
      expect(await tokens()).toBe(BURST - 1 - 1 - 1 - 3);
      // 4 left: the subscribe takes one, its other 4 jobs do not fit
      const limited = await run(aliasedSubmitJob(5), input(8));
      expect(limited.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
      expect(await jobCount('ws')).toBe(4);
      // an invalid document is still refused on its own, the socket kept
      expect((await run('mutation { nope }', {})).errors?.length).toBeGreaterThan(0);
      expect(await tokens()).toBe(2);
    });
  });

  it('reads a Job entity only with jobs:read, as Query.job: a key of the same tenant with artifacts:read alone gets none', async () => {
    const tenant = 'entity-scope';
    const { job } = await core.service.submitJob(tenant, single('test.emit', { value: 9 }));
    const keyWith = async (scopes: Array<'jobs:read' | 'artifacts:read'>) =>
      (await store().create({ tenant, scopes, name: scopes.join(' ') })).key;
    const entities = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Job { id status } } }`;
    const reps = { reps: [{ __typename: 'Job', id: job.id }] };

    const reader = await post(await keyWith(['jobs:read']), entities, reps);
    expect(reader.errors).toBeUndefined();
    expect(reader.data).toEqual({ _entities: [{ id: job.id, status: expect.any(String) }] });

    const artifactsOnly = await keyWith(['artifacts:read']);
    // what Query.job answers this key
    const byQuery = await post(artifactsOnly, 'query($id: ID!) { job(id: $id) { id status } }', {
      id: job.id,
    });
    expect(byQuery.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', scope: 'jobs:read' });
    const byEntity = await post(artifactsOnly, entities, reps);
    expect(byEntity.data?._entities).toEqual([null]);
    expect(byEntity.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', scope: 'jobs:read' });
  });
});
