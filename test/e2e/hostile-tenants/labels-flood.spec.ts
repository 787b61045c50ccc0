import { REDIS_PREFIX } from '#libs/contracts';
import { Redis } from 'ioredis';
import { waitFor } from '#libs/testing';
import { codeOf, gql, startGatewayStack, type GatewayStack } from '../gateway-support/gateway-stack.js';

const SUBMIT = `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id status labels } }`;
const CANCEL = `mutation($id: ID!) { cancelJob(id: $id) { id status } }`;
const sleepJob = (ms: number, labels?: Record<string, unknown>) => ({
  input: {
    graph: { nodes: [{ id: 's', task: 'test.sleep', inputs: { ms } }] },
    ...(labels ? { labels } : {}),
  },
});

const UNFINISHED = `{ jobs(filter: { status: [QUEUED, RUNNING] }) { edges { node { id } } } }`;

const usedMemory = async (redis: Redis) => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);

/**
 * Issue 9 ("labels fill Redis"), through npm start-like real processes (redis, s3rver, both subgraphs, a
 * gpu-worker with the test tasks, the gateway): tenant A's oversized labels and its flood of jobs are refused
 * with QUOTA_EXCEEDED and cost Redis nothing, while tenant B is served.
 */
describe('hostile tenants: labels flood and active-jobs quota', () => {
  let stack: GatewayStack;
  let redis: Redis;
  let keyA: string;
  let keyB: string;

  beforeAll(async () => {
    stack = await startGatewayStack({
      worker: true,
      jobsEnv: { TENANT_MAX_ACTIVE_JOBS: '3' },
      // the attack is what is measured here, not the gateway's rate limit
      gatewayEnv: { RATE_LIMIT_PER_MINUTE: '6000', RATE_LIMIT_BURST: '500' },
    });
    redis = new Redis(stack.redis.url);
    keyA = (await stack.createKey('tenant-a', ['jobs:read', 'jobs:write'])).key;
    keyB = (await stack.createKey('tenant-b', ['jobs:read', 'jobs:write'])).key;
  }, 240_000);

  afterAll(async () => {
    redis?.disconnect();
    await stack?.stop();
  }, 60_000);

  it("refuses A's 200 KB labels with QUOTA_EXCEEDED, and 50 such attempts do not grow Redis", async () => {
    const huge = { blob: 'x'.repeat(200 * 1024) };
    const first = await gql(stack.url, keyA, SUBMIT, sleepJob(10, huge));
    expect(codeOf(first)).toBe('QUOTA_EXCEEDED');
    expect(first.body.errors![0]!.extensions).toMatchObject({ limit: 'labelBytes', max: 16_384, used: 0 });
    expect(first.body.errors![0]!.extensions!.requested).toBeGreaterThan(200 * 1024);

    const memoryBefore = await usedMemory(redis);
    for (let i = 0; i < 50; i++) {
      const r = await gql(stack.url, keyA, SUBMIT, sleepJob(10, { ...huge, i }));
      expect(codeOf(r)).toBe('QUOTA_EXCEEDED');
    }
    const grown = (await usedMemory(redis)) - memoryBefore;
    // 50 stored attempts would be 10 MB; what moves is the worker's heartbeats and the like
    expect(grown).toBeLessThan(1024 * 1024);
    expect(await redis.zcard(`${REDIS_PREFIX}:tenant:tenant-a:jobs`)).toBe(0);

    // labels that fit are kept
    const ok = await gql(stack.url, keyB, SUBMIT, sleepJob(10, { team: 'b', note: 'y'.repeat(1000) }));
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data.submitJob.labels).toEqual({ team: 'b', note: 'y'.repeat(1000) });
  });

  it("stops A at TENANT_MAX_ACTIVE_JOBS while B's submissions succeed; a cancel frees A's slot", async () => {
    // B starts with none unfinished (the job above is 10 ms, but a loaded machine may not have run it yet; A's
    // jobs below take the one actor for good): B's three submissions are then within its own quota of 3
    await waitFor(
      async () => ((await gql(stack.url, keyB, UNFINISHED)).body.data?.jobs.edges.length ?? -1) === 0,
      { timeoutMs: 30_000, what: "B's earlier job to finish" },
    );
    const aJobs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await gql(stack.url, keyA, SUBMIT, sleepJob(600_000));
      expect(r.body.errors).toBeUndefined();
      aJobs.push(r.body.data.submitJob.id as string);
    }
    const refused = await gql(stack.url, keyA, SUBMIT, sleepJob(600_000));
    expect(codeOf(refused)).toBe('QUOTA_EXCEEDED');
    expect(refused.body.errors![0]!.extensions).toMatchObject({
      limit: 'activeJobs',
      max: 3,
      used: 3,
      requested: 1,
    });

    for (let i = 0; i < 3; i++) {
      const b = await gql(stack.url, keyB, SUBMIT, sleepJob(10));
      expect(b.body.errors).toBeUndefined();
      expect(['QUEUED', 'RUNNING', 'SUCCEEDED']).toContain(b.body.data.submitJob.status);
    }

    const cancelled = await gql(stack.url, keyA, CANCEL, { id: aJobs.pop() });
    expect(cancelled.body.data.cancelJob.status).toBe('CANCELLED');
    const again = await gql(stack.url, keyA, SUBMIT, sleepJob(600_000));
    expect(again.body.errors).toBeUndefined();
    aJobs.push(again.body.data.submitJob.id as string);

    // leave nothing running for the shutdown
    for (const id of aJobs) await gql(stack.url, keyA, CANCEL, { id });
  });
});
