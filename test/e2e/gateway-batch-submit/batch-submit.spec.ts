import { Redis } from 'ioredis';
import { waitFor } from '#libs/testing';
import { JOB_KEYS } from '../../../apps/jobs-subgraph/src/scheduler/keys.js';
import { codeOf, gql, startGatewayStack, type GatewayStack } from '../gateway-support/gateway-stack.js';

const SUBMIT_JOBS = `mutation($inputs: [SubmitJobInput!]!) {
  submitJobs(inputs: $inputs) { index job { id status } error { code message graphErrors { code } } }
}`;
const noop = (i: number) => ({
  graph: { nodes: [{ id: 's', task: 'test.sleep', inputs: { ms: 0 } }] },
  labels: { i },
});
const BURST = 50;

/**
 * submitJobs through the gateway, the stack's only public door (real redis, s3rver, both subgraphs, a
 * gpu-worker with the test tasks): per-input results, and the per-key rate limit counted per job.
 */
describe('submitJobs through the gateway', () => {
  let stack: GatewayStack;
  let redis: Redis;
  const jobsOf = (tenant: string) => redis.zcard(JOB_KEYS.tenantJobs(tenant));

  beforeAll(async () => {
    // one token a second, so a refill during the test cannot hide a missing charge
    stack = await startGatewayStack({
      worker: true,
      gatewayEnv: { RATE_LIMIT_PER_MINUTE: '60', RATE_LIMIT_BURST: String(BURST) },
    });
    redis = new Redis(stack.redis.url);
  }, 240_000);

  afterAll(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('answers each input on its own and runs the accepted jobs', async () => {
    const { key } = await stack.createKey('acme', ['jobs:read', 'jobs:write']);
    const r = await gql(stack.url, key, SUBMIT_JOBS, {
      inputs: [noop(0), { graph: { nodes: [{ id: 'x', task: 'no.such.task' }] } }, noop(2)],
    });
    expect(r.body.errors).toBeUndefined();
    const items = r.body.data.submitJobs as Array<{
      index: number;
      job: { id: string } | null;
      error: { code: string; graphErrors: Array<{ code: string }> } | null;
    }>;
    expect(items.map((i) => [i.index, Boolean(i.job), i.error?.code ?? null])).toEqual([
      [0, true, null],
      [1, false, 'INVALID_GRAPH'],
      [2, true, null],
    ]);
    expect(items[1]!.error!.graphErrors.map((e) => e.code)).toContain('UNKNOWN_TASK');
    for (const item of [items[0]!, items[2]!])
      await waitFor(
        async () => {
          const j = await gql(stack.url, key, 'query($id: ID!) { job(id: $id) { status } }', {
            id: item.job!.id,
          });
          return j.body.data?.job?.status === 'SUCCEEDED' ? true : null;
        },
        { timeoutMs: 30_000, what: `job ${item.job!.id} to succeed` },
      );
    expect(await jobsOf('acme')).toBe(2);
  }, 60_000);

  it('spends a rate-limit token per job: a batch is no way around the per-key limit', async () => {
    const { key } = await stack.createKey('limited', ['jobs:read', 'jobs:write']);
    // more jobs than the bucket can ever hold: refused as such (waiting would not help), nothing written
    const tooMany = await gql(stack.url, key, SUBMIT_JOBS, {
      inputs: Array.from({ length: BURST + 1 }, (_, i) => noop(i)),
    });
    expect(tooMany.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', max: BURST });
    expect(await jobsOf('limited')).toBe(0);

    const first = await gql(stack.url, key, SUBMIT_JOBS, {
      inputs: Array.from({ length: BURST - 10 }, (_, i) => noop(i)),
    });
    expect(first.body.errors).toBeUndefined();
    expect(await jobsOf('limited')).toBe(BURST - 10);
    // ~10 tokens left (plus about one a second): 20 more jobs are over the limit, as 20 submitJob calls would be
    const second = await gql(stack.url, key, SUBMIT_JOBS, {
      inputs: Array.from({ length: 20 }, (_, i) => noop(i)),
    });
    expect(codeOf(second)).toBe('RATE_LIMITED');
    expect(second.body.errors?.[0]?.extensions?.retryAfterSeconds).toBeGreaterThan(0);
    expect(await jobsOf('limited')).toBe(BURST - 10);
  }, 60_000);
});
