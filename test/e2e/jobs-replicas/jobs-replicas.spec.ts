import { Redis } from 'ioredis';
import { freePort, startApp, startRedis, waitFor, type AppHandle, type RedisHandle } from '#libs/testing';
import { REDIS_PREFIX, REDIS_KEYS } from '#libs/contracts';
import { TEST_TASKS } from '../../../apps/jobs-subgraph/test/test-tasks.js';
import { TestWorker } from '../../../apps/jobs-subgraph/test/test-worker.js';
import { graphqlRequest, TEST_SECRET } from '../../../apps/jobs-subgraph/test/graphql-client.js';
import { EventLog } from '../../../apps/jobs-subgraph/src/events/event-log.js';

/**
 * Two jobs-subgraph processes share one Redis: submits go to both, reports are split between their consumers,
 * one leader reconciles. Killing a replica mid-run (whichever holds the lease) loses no work and runs no node twice.
 */
const ENTRY = 'dist/apps/jobs-subgraph/src/main.js';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const diamond = (seed: number) => ({
  graph: {
    nodes: [
      { id: 'A', task: 'test.emit', inputs: { value: seed } },
      { id: 'B', task: 'test.slow', inputs: { ms: 300 }, dependsOn: ['A'] },
      { id: 'C', task: 'test.add', inputs: { a: { $ref: 'A.outputs.value' }, b: 100 } },
      {
        id: 'D',
        task: 'test.join',
        inputs: { left: { $ref: 'B.outputs.slept' }, right: { $ref: 'C.outputs.sum' } },
      },
    ],
  },
});

describe('two jobs-subgraph replicas', () => {
  let redis: RedisHandle;
  let worker: TestWorker;
  const replicas: AppHandle[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    worker = await new TestWorker({
      url: redis.url,
      tasks,
      concurrency: 8,
      handlers: {
        'test.emit': async (p) => ({ value: p.inputs.value as number }),
        'test.add': async (p) => ({ sum: (p.inputs.a as number) + (p.inputs.b as number) }),
        'test.join': async (p) => ({ total: (p.inputs.left as number) + (p.inputs.right as number) }),
        'test.slow': async (p) => {
          await new Promise((r) => setTimeout(r, p.inputs.ms as number));
          return { slept: p.inputs.ms as number };
        },
      },
    }).start();
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const app = await startApp(
        ENTRY,
        {
          REDIS_URL: redis.url,
          JOBS_SUBGRAPH_PORT: String(port),
          SWITCHYARD_IDENTITY_SECRET: TEST_SECRET,
          SCHEDULER_LEASE_MS: '1500',
          SCHEDULER_REPLICA_TTL_MS: '1500',
          RECONCILE_INTERVAL_MS: '300',
          REPORT_CLAIM_IDLE_MS: '1500',
          LOG_LEVEL: 'warn',
        },
        port,
      );
      await app.waitReady();
      replicas.push(app);
    }
  });

  afterAll(async () => {
    for (const r of replicas) await r.stop();
    await worker.stop();
    await redis.stop();
  });

  it('runs every node exactly once, also when the lease holder is SIGKILLed mid-run', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await graphqlRequest<{ submitJob: { id: string } }>(
        replicas[i % 2]!.url,
        `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id } }`,
        { input: diamond(i) },
      );
      expect(r.errors).toBeUndefined();
      ids.push(r.data!.submitJob.id);
    }
    // replica 0 started first, so it took the lease before replica 1 existed: kill the leader mid-run
    const reader = new Redis(redis.url);
    try {
      const leaderBefore = await reader.get(`${REDIS_PREFIX}:scheduler:leader`);
      expect(leaderBefore).not.toBeNull();
      const victim = replicas.shift()!;
      await victim.kill('SIGKILL');
      const survivor = replicas[0]!;
      for (const id of ids) {
        await waitFor(
          async () => {
            const r = await graphqlRequest<{ job: { status: string } }>(
              survivor.url,
              'query($id: ID!) { job(id: $id) { status } }',
              { id },
            );
            return r.data?.job?.status === 'SUCCEEDED';
          },
          // a lease the victim popped but never added is re-added once its liveness key expired (1.5 s) by the
          // survivor's first passes as leader (lease 1.5 s, a pass every 300 ms, 2 s enqueue grace): seconds
          { timeoutMs: 15_000, what: `job ${id}`, logs: () => survivor.logs() },
        );
      }
      // a node that ran twice shows its leases: two attempt numbers = the scheduler queued it twice; the same
      // BullMQ job id leased again (attemptsStarted 2) = BullMQ's stalled-job redelivery
      const runs = worker.ran.map((p) => `${p.jobId}/${p.nodeId}`);
      const ranTwice = [...new Set(runs.filter((r, i) => runs.indexOf(r) !== i))];
      expect(ranTwice.map((r) => worker.leases.filter((l) => `${l.jobId}/${l.nodeId}` === r))).toEqual([]);
      expect(runs).toHaveLength(12 * 4);
      const log = new EventLog(reader);
      for (const id of ids) {
        const events = (await log.jobEventsAfter(id, 0, 1_000)).map((e) => e.event);
        expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
        expect(events.filter((e) => e.type === 'NODE_QUEUED')).toHaveLength(4);
        expect(events.filter((e) => e.type === 'NODE_RETRYING')).toEqual([]);
      }
      // the survivor took over the lease, and claimed whatever the dead replica had read but not acknowledged
      await waitFor(async () => {
        const leader = await reader.get(`${REDIS_PREFIX}:scheduler:leader`);
        return leader !== null && leader !== leaderBefore;
      });
      await waitFor(
        async () =>
          ((await reader.xpending(REDIS_KEYS.reports, REDIS_KEYS.reportsGroup)) as [number])[0] === 0,
      );
    } finally {
      await reader.quit();
    }
  }, 120_000);
});
