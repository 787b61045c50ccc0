import { Redis } from 'ioredis';
import { freePort, startApp, startRedis, waitFor, type AppHandle, type RedisHandle } from '#libs/testing';
import { TEST_TASKS } from '../../../apps/jobs-subgraph/test/test-tasks.js';
import { TestWorker } from '../../../apps/jobs-subgraph/test/test-worker.js';
import { graphqlRequest, TEST_SECRET } from '../../../apps/jobs-subgraph/test/graphql-client.js';
import { EventLog } from '../../../apps/jobs-subgraph/src/events/event-log.js';

/**
 * The jobs subgraph as a real process (built JS) over a real redis-server, with the in-test worker leasing
 * from BullMQ: killing the subgraph or Redis mid-job loses nothing.
 */
const ENTRY = 'dist/apps/jobs-subgraph/src/main.js';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);

const CHAIN = {
  graph: {
    nodes: [
      { id: 'first', task: 'test.slow', inputs: { ms: 2500 } },
      { id: 'second', task: 'test.add', inputs: { a: { $ref: 'first.outputs.slept' }, b: 1 } },
      { id: 'third', task: 'test.slow', inputs: { ms: 1500 }, dependsOn: ['second'] },
      {
        id: 'fourth',
        task: 'test.add',
        inputs: { a: { $ref: 'second.outputs.sum' }, b: { $ref: 'third.outputs.slept' } },
      },
    ],
  },
};

const JOB_QUERY = `query($id: ID!) { job(id: $id) { id status nodes { id status attempts outputs } } }`;

describe('jobs-subgraph survives crashes mid-job', () => {
  let redis: RedisHandle;
  let app: AppHandle;
  let worker: TestWorker;
  let port: number;
  let env: Record<string, string>;
  let reader: Redis;

  const startSubgraph = async () => {
    app = await startApp(ENTRY, env, port);
    await app.waitReady();
  };
  const jobState = async (id: string) =>
    (await graphqlRequest<{ job: any }>(app.url, JOB_QUERY, { id })).data?.job as
      | { status: string; nodes: Array<{ id: string; status: string; attempts: number; outputs: any }> }
      | undefined;

  beforeEach(async () => {
    redis = await startRedis();
    port = await freePort();
    env = {
      REDIS_URL: redis.url,
      JOBS_SUBGRAPH_PORT: String(port),
      SWITCHYARD_IDENTITY_SECRET: TEST_SECRET,
      SCHEDULER_LEASE_MS: '2000',
      RECONCILE_INTERVAL_MS: '500',
      REPORT_CLAIM_IDLE_MS: '2000',
      SCHEDULER_BACKOFF_BASE_MS: '100',
      SCHEDULE_TO_START_MS: '8000',
      LOG_LEVEL: 'warn',
    };
    worker = await new TestWorker({
      url: redis.url,
      tasks,
      handlers: {
        'test.add': async (p) => ({ sum: (p.inputs.a as number) + (p.inputs.b as number) }),
        'test.slow': async (p, ctx) => {
          const ms = p.inputs.ms as number;
          for (let i = 1; i <= 5; i++) {
            await new Promise((r) => setTimeout(r, ms / 5));
            await ctx.progress(i / 5);
          }
          return { slept: ms };
        },
      },
    }).start();
    reader = new Redis(redis.url, { maxRetriesPerRequest: null });
    await startSubgraph();
  });

  afterEach(async () => {
    await app?.stop();
    await worker.stop();
    reader.disconnect();
    await redis.stop();
  });

  const expectCompleteHistory = async (jobId: string) => {
    const events = (await new EventLog(reader).jobEventsAfter(jobId, 0, 10_000)).map((e) => e.event);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.type === 'JOB_SUCCEEDED')).toHaveLength(1);
    for (const id of ['first', 'second', 'third', 'fourth'])
      expect(events.filter((e) => e.type === 'NODE_SUCCEEDED' && e.nodeId === id)).toHaveLength(1);
    expect(events.at(-1)!.type).toBe('JOB_SUCCEEDED');
  };

  it('SIGKILL of the subgraph mid-job, then a restart: the job completes, every node once, history contiguous', async () => {
    const submitted = await graphqlRequest<{ submitJob: { id: string } }>(
      app.url,
      `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id status } }`,
      { input: CHAIN },
    );
    expect(submitted.errors).toBeUndefined();
    const jobId = submitted.data!.submitJob.id;
    await waitFor(async () => (await jobState(jobId))?.nodes[0]!.status === 'RUNNING', { timeoutMs: 10_000 });

    await app.kill('SIGKILL');
    // while it is down the worker finishes `first` and reports into the stream
    await waitFor(() => worker.ran.length >= 1 && worker.ran[0]!.nodeId === 'first');
    await new Promise((r) => setTimeout(r, 3_000));
    await startSubgraph();

    await waitFor(async () => (await jobState(jobId))?.status === 'SUCCEEDED', {
      timeoutMs: 30_000,
      logs: () => app.logs(),
    });
    const job = (await jobState(jobId))!;
    expect(job.nodes.map((n) => n.outputs)).toEqual([
      { slept: 2500 },
      { sum: 2501 },
      { slept: 1500 },
      { sum: 4001 },
    ]);
    expect(job.nodes.every((n) => n.attempts === 1)).toBe(true);
    expect(worker.ran.map((p) => p.nodeId)).toEqual(['first', 'second', 'third', 'fourth']);
    await expectCompleteHistory(jobId);
  });

  it('SIGKILL of Redis mid-job, restart on the same AOF: the job completes and nothing is lost', async () => {
    const submitted = await graphqlRequest<{ submitJob: { id: string } }>(
      app.url,
      `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id } }`,
      { input: CHAIN },
    );
    const jobId = submitted.data!.submitJob.id;
    await waitFor(async () => (await jobState(jobId))?.nodes[0]!.status === 'RUNNING', { timeoutMs: 10_000 });

    await redis.kill('SIGKILL');
    // a request during the outage fails fast with UNAVAILABLE
    const during = await graphqlRequest(app.url, JOB_QUERY, { id: jobId });
    expect(during.errors?.[0]?.extensions?.code).toBe('UNAVAILABLE');
    await new Promise((r) => setTimeout(r, 1_500));
    await redis.restart();

    await waitFor(async () => (await jobState(jobId).catch(() => undefined))?.status === 'SUCCEEDED', {
      timeoutMs: 40_000,
      logs: () => app.logs(),
    });
    const job = (await jobState(jobId))!;
    expect(job.nodes.map((n) => n.outputs)).toEqual([
      { slept: 2500 },
      { sum: 2501 },
      { slept: 1500 },
      { sum: 4001 },
    ]);
    await expectCompleteHistory(jobId);
  });

  it('a node no live worker offers fails UNSCHEDULABLE through the leader loop, visible in events and metrics', async () => {
    // a worker that offered test.gpu long enough for the planner to accept the node, then went away
    const gone = new TestWorker({
      url: redis.url,
      tasks: [TEST_TASKS.gpu],
      handlers: {},
      manifestTtlMs: 1_000,
    });
    await gone.publishManifest();
    const submitted = await graphqlRequest<{ submitJob: { id: string } }>(
      app.url,
      `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id } }`,
      { input: { graph: { nodes: [{ id: 'g', task: 'test.gpu', inputs: { value: 1 } }] } } },
    );
    expect(submitted.errors).toBeUndefined();
    const jobId = submitted.data!.submitJob.id;
    await waitFor(async () => (await jobState(jobId))?.status === 'FAILED', {
      timeoutMs: 20_000,
      logs: () => app.logs(),
    });
    const failed = await graphqlRequest<{
      job: { error: { code: string }; nodes: Array<{ error: { code: string; message: string } }> };
    }>(
      app.url,
      'query($id: ID!) { job(id: $id) { error { code } nodes { error { code message retryable } } } }',
      { id: jobId },
    );
    expect(failed.data!.job.error.code).toBe('UNSCHEDULABLE');
    expect(failed.data!.job.nodes[0]!.error.message).toMatch(/no live worker offers test\.gpu/);
    const metricsText = await (await fetch(`${app.url}/metrics`)).text();
    expect(metricsText).toMatch(/switchyard_reconciler_actions_total\{[^}]*action="unschedulable"[^}]*\} 1/);
    expect(metricsText).toMatch(/switchyard_jobs_submitted_total\{[^}]*\} 1/);
    await gone.stop();
  });
});
