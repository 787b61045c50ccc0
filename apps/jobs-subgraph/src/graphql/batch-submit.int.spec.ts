import { ApiKeyStore, SubgraphAuthenticator, TokenBucketLimiter } from '#libs/auth';
import { DEFAULT_TENANT_MAX_ARTIFACTS } from '#libs/config';
import { REDIS_KEYS } from '#libs/contracts';
import type { CoreHarness } from '../../test/harness.js';
import { serveGraphql, startGraphqlHarness, type GraphqlHarness } from '../../test/graphql-harness.js';
import { graphqlRequest, identityFor, TEST_SECRET } from '../../test/graphql-client.js';
import { single, waitForJob } from '../../test/scenario.js';
import { JOB_KEYS } from '../scheduler/keys.js';
import { MAX_SUBMIT_BATCH } from '../service/batch-submit.js';
import { createJobsGraphql } from './graphql-server.js';

const SUBMIT_JOBS = `mutation($inputs: [SubmitJobInput!]!) {
  submitJobs(inputs: $inputs) {
    index
    job { id status nodes { id status } }
    error { code message details graphErrors { code nodeId } }
  }
}`;
const SUBMIT = `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id } }`;
/** The active-jobs quota per tenant: exactly a full batch. */
const MAX_ACTIVE = MAX_SUBMIT_BATCH;

type Item = {
  index: number;
  job: { id: string; status: string } | null;
  error: {
    code: string;
    message: string;
    details?: Record<string, unknown>;
    graphErrors?: Array<{ code: string }>;
  } | null;
};

describe('submitJobs over a real redis-server', () => {
  let harness: GraphqlHarness;
  let core: CoreHarness;
  let url: string;

  const submitJobs = (inputs: unknown[], tenant = 'acme') =>
    graphqlRequest<{ submitJobs: Array<Item | null> }>(url, SUBMIT_JOBS, { inputs }, identityFor(tenant));
  /** Every job the tenant has (QUEUED/RUNNING/finished): its index in Redis, not a capped page. */
  const jobCount = (tenant: string) => core.redis.zcard(JOB_KEYS.tenantJobs(tenant));

  beforeAll(async () => {
    harness = await startGraphqlHarness({
      core: { quotas: { maxActiveJobs: MAX_ACTIVE, maxQueuedNodes: 10_000 } },
    });
    ({ core, url } = harness);
  });

  afterAll(() => harness?.stop());

  it('answers one result per input, in order: jobs, typed errors, and one job per idempotency key', async () => {
    const r = await submitJobs([
      single('test.emit', { value: 1 }),
      single('test.nope', { value: 1 }),
      { template: 'thumbnail', graph: { nodes: [{ id: 'a', task: 'test.emit', inputs: { value: 1 } }] } },
      single('test.emit', { value: 2 }, { idempotencyKey: 'order-7' }),
      single('test.emit', { value: 3 }, { idempotencyKey: 'order-7' }),
      single('test.emit', { value: 4 }, { idempotencyKey: '' }),
    ]);
    expect(r.errors).toBeUndefined();
    const items = r.data!.submitJobs as Item[];
    expect(items.map((i) => i.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(items[0]).toMatchObject({
      error: null,
      job: { status: expect.stringMatching(/QUEUED|RUNNING|SUCCEEDED/) },
    });
    expect(items[1]).toMatchObject({ job: null, error: { code: 'INVALID_GRAPH' } });
    expect(items[1]!.error!.graphErrors!.map((e) => e.code)).toContain('UNKNOWN_TASK');
    expect(items[2]).toMatchObject({ job: null, error: { code: 'BAD_USER_INPUT' } });
    // the class validators of submitJob's argument are not applied to the list: the contract refuses it per item
    expect(items[5]).toMatchObject({ job: null, error: { code: 'BAD_USER_INPUT' } });
    expect(items[5]!.error!.message).toMatch(/idempotencyKey/);
    expect(items[3]!.job!.id).toBe(items[4]!.job!.id);
    // the same key through submitJob: the same job again
    const again = await graphqlRequest<{ submitJob: { id: string } }>(url, SUBMIT, {
      input: single('test.emit', { value: 9 }, { idempotencyKey: 'order-7' }),
    });
    expect(again.data!.submitJob.id).toBe(items[3]!.job!.id);
    for (const id of [items[0]!.job!.id, items[3]!.job!.id])
      await waitForJob(core, 'acme', id, (v) => v.job.status === 'SUCCEEDED');
    // two accepted inputs made two jobs; the refused ones wrote nothing
    expect(await jobCount('acme')).toBe(2);
  });

  it(`refuses more than ${MAX_SUBMIT_BATCH} inputs as a whole (BAD_USER_INPUT) and writes nothing`, async () => {
    const before = await jobCount('bulk');
    const inputs = Array.from({ length: MAX_SUBMIT_BATCH + 1 }, (_, i) => single('test.emit', { value: i }));
    const r = await submitJobs(inputs, 'bulk');
    expect(r.data).toBeNull();
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', max: MAX_SUBMIT_BATCH });
    expect(await jobCount('bulk')).toBe(before);
    expect((await submitJobs([], 'bulk')).data!.submitJobs).toEqual([]);
  });

  it(`takes ${MAX_SUBMIT_BATCH} inputs in one call, each its own job`, async () => {
    const inputs = Array.from({ length: MAX_SUBMIT_BATCH }, (_, i) => single('test.emit', { value: i }));
    const r = await submitJobs(inputs, 'hundred');
    const items = r.data!.submitJobs as Item[];
    expect(items.filter((i) => !i.job || i.error)).toEqual([]);
    expect(new Set(items.map((i) => i.job!.id)).size).toBe(MAX_SUBMIT_BATCH);
    for (const i of items) await waitForJob(core, 'hundred', i.job!.id, (v) => v.job.status === 'SUCCEEDED');
  }, 60_000);

  it('checks the active-jobs quota per input: the inputs past it are refused, the others written', async () => {
    harness.holdAdds(); // jobs held unfinished count against the active-jobs quota
    const held = (n: number, from = 0) =>
      Array.from({ length: n }, (_, i) => single('test.add', { a: from + i, b: 1 }));
    const first = (await submitJobs(held(MAX_ACTIVE - 3), 'quota')).data!.submitJobs as Item[];
    expect(first.every((i) => i.job)).toBe(true);
    const items = (await submitJobs(held(6, 1000), 'quota')).data!.submitJobs as Item[];
    const accepted = items.filter((i) => i.job);
    const refused = items.filter((i) => i.error);
    expect(accepted).toHaveLength(3);
    expect(refused).toHaveLength(3);
    for (const i of refused)
      expect(i.error).toMatchObject({
        code: 'QUOTA_EXCEEDED',
        details: { limit: 'activeJobs', max: MAX_ACTIVE },
      });
    expect(await jobCount('quota')).toBe(MAX_ACTIVE);
    // at the quota, every input of the next batch is refused and nothing is written
    const full = (await submitJobs([single('test.emit', { value: 1 })], 'quota')).data!.submitJobs as Item[];
    expect(full[0]!.error!.code).toBe('QUOTA_EXCEEDED');
    expect(await jobCount('quota')).toBe(MAX_ACTIVE);
    harness.releaseAdds();
    for (const i of [...first, ...accepted])
      await waitForJob(core, 'quota', i.job!.id, (v) => v.job.status === 'SUCCEEDED', 60_000);
  }, 120_000);

  it('refuses every input (and validateGraph) of a tenant at its artifact-count quota: the default, over GraphQL', async () => {
    // the default TENANT_MAX_ARTIFACTS (the harness sets no artifact quota), counted where the artifacts side counts
    await core.redis.set(REDIS_KEYS.tenantArtifacts('hoarder'), DEFAULT_TENANT_MAX_ARTIFACTS);
    const details = {
      limit: 'artifacts',
      max: DEFAULT_TENANT_MAX_ARTIFACTS,
      used: DEFAULT_TENANT_MAX_ARTIFACTS,
      requested: 0,
    };
    const items = (
      await submitJobs([single('test.emit', { value: 1 }), single('test.emit', { value: 2 })], 'hoarder')
    ).data!.submitJobs as Item[];
    for (const i of items) expect(i).toMatchObject({ job: null, error: { code: 'QUOTA_EXCEEDED', details } });
    const v = await graphqlRequest(
      url,
      `query($input: SubmitJobInput!) { validateGraph(input: $input) { valid } }`,
      { input: single('test.emit', { value: 1 }) },
      identityFor('hoarder'),
    );
    expect(v.errors?.[0]?.extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', ...details });
    expect(await jobCount('hoarder')).toBe(0);
    // one artifact fewer (deleted, or freed by retention): accepted again
    await core.redis.decr(REDIS_KEYS.tenantArtifacts('hoarder'));
    const ok = (await submitJobs([single('test.emit', { value: 3 })], 'hoarder')).data!.submitJobs as Item[];
    expect(ok[0]!.job).not.toBeNull();
  });

  it('needs jobs:write for the whole call (FORBIDDEN, nothing written)', async () => {
    const r = await graphqlRequest(
      url,
      SUBMIT_JOBS,
      { inputs: [single('test.emit', { value: 1 })] },
      identityFor('reader', ['jobs:read']),
    );
    expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await jobCount('reader')).toBe(0);
  });

  it('charges an API key that calls the subgraph directly a token per job, as the gateway does', async () => {
    const burst = 10;
    const auth = new SubgraphAuthenticator({
      accept: ['api-key'],
      identitySecrets: TEST_SECRET,
      // 6 a minute: no refill worth counting during the test
      apiKeys: {
        store: new ApiKeyStore(core.redis),
        limiter: new TokenBucketLimiter(core.redis, { perMinute: 6, burst }),
      },
    });
    const direct = await createJobsGraphql(core.service, {
      authenticator: auth,
      production: true,
      subscriptionQuota: harness.subscriptionQuota,
      connectionQuota: harness.connectionQuota,
    });
    const directHttp = await serveGraphql(direct);
    try {
      const { key } = await new ApiKeyStore(core.redis).create({
        tenant: 'direct',
        scopes: ['jobs:write'],
        name: 't',
      });
      // a direct caller is held to our gateway's MAX_QUERY_COST: SUBMIT_JOBS (100 inputs assumed, each job's 200
      // nodes) costs 45,010 and is refused, there as here; this selection costs 510
      const post = async (n: number) => {
        const res = await fetch(`${directHttp.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({
            query: `mutation($inputs: [SubmitJobInput!]!) { submitJobs(inputs: $inputs) { index job { id } error { code } } }`,
            variables: { inputs: Array.from({ length: n }, (_, i) => single('test.emit', { value: i })) },
          }),
        });
        return (await res.json()) as {
          data?: { submitJobs: Item[] } | null;
          errors?: Array<{ extensions?: Record<string, unknown> }>;
        };
      };
      // more than the bucket holds: refused as such, nothing written (1 token spent by the request itself)
      const tooMany = await post(burst + 1);
      expect(tooMany.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', max: burst });
      expect(await jobCount('direct')).toBe(0);
      // 9 tokens left: a batch of 8 spends 8
      expect((await post(8)).data!.submitJobs.every((i) => i.job)).toBe(true);
      expect(await jobCount('direct')).toBe(8);
      // 1 token left: the request gets in, its other 4 jobs do not
      const limited = await post(5);
      expect(limited.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
      expect(await jobCount('direct')).toBe(8);
    } finally {
      await direct.stop();
      await directHttp.close();
    }
  });
});
