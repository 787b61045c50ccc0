import { Redis } from 'ioredis';
import {
  freePort,
  startApp,
  startRedis,
  tempDir,
  waitFor,
  type AppHandle,
  type RedisHandle,
} from '#libs/testing';
import { graphqlRequest, TEST_SECRET } from '../../../apps/jobs-subgraph/test/graphql-client.js';
import { EventLog } from '../../../apps/jobs-subgraph/src/events/event-log.js';
import { startWorker, type WorkerHandle } from '../worker-support/start-worker.js';

/**
 * Review finding (s15): a worker SIGKILLed mid-attempt that no worker of its resource class replaces. The heartbeat
 * and start-to-close deadlines are enforced only inside the worker, and BullMQ's stalled check runs only in a
 * Worker of that queue, so the attempt stays `active` in BullMQ and RUNNING in the scheduler: no event, no
 * reconciler action, no queue-depth alert (depth counts waiting jobs only), until the job deadline (24 h).
 * DESIGN.md: "Each [deadline] ends in a typed error and an event, never in a silent wait."
 */
const ENTRY = 'dist/apps/jobs-subgraph/src/main.js';
const NODE_TIMEOUT_S = 5;

describe('worker SIGKILLed mid-attempt and never replaced', () => {
  let redis: RedisHandle;
  let app: AppHandle | undefined;
  let worker: WorkerHandle | undefined;
  let reader: Redis | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    const port = await freePort();
    app = await startApp(
      ENTRY,
      {
        REDIS_URL: redis.url,
        JOBS_SUBGRAPH_PORT: String(port),
        SWITCHYARD_IDENTITY_SECRET: TEST_SECRET,
        SCHEDULER_LEASE_MS: '2000',
        RECONCILE_INTERVAL_MS: '500',
        SCHEDULE_TO_START_MS: '8000',
        LOG_LEVEL: 'warn',
      },
      port,
    );
    await app.waitReady();
    reader = new Redis(redis.url, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    await worker?.stop();
    await app?.stop();
    reader?.disconnect();
    await redis?.stop();
  });

  it('its attempt ends visibly (an event) within the node timeout and the lease, not at the job deadline', async () => {
    worker = await startWorker('w-lost', {
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: tempDir('worker-lost'),
    });
    const submitted = await graphqlRequest<{ submitJob: { id: string } }>(
      app!.url,
      `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id } }`,
      {
        input: {
          graph: {
            nodes: [
              { id: 'long', task: 'test.sleep', inputs: { ms: 600_000 }, timeoutSeconds: NODE_TIMEOUT_S },
            ],
          },
        },
      },
    );
    expect(submitted.errors).toBeUndefined();
    const jobId = submitted.data!.submitJob.id;
    const nodeStatus = async () =>
      (
        await graphqlRequest<{ job: { status: string; nodes: Array<{ status: string }> } }>(
          app!.url,
          'query($id: ID!) { job(id: $id) { status nodes { status } } }',
          { id: jobId },
        )
      ).data?.job?.nodes[0]?.status;
    await waitFor(async () => (await nodeStatus()) === 'RUNNING', {
      timeoutMs: 20_000,
      what: 'node RUNNING',
      logs: () => worker!.logs(),
    });

    await worker.kill('SIGKILL');
    worker = undefined;

    // The leader judges a dead worker's attempt once its manifest key (TTL 3 s) and its BullMQ lock (3 s) have
    // expired, within a pass (500 ms): ~4 s after the kill, independent of the node's timeout. 12 s leaves CI slack.
    const log = new EventLog(reader!);
    await waitFor(
      async () =>
        (await log.jobEventsAfter(jobId, 0, 1_000)).some(
          (e) => e.event.nodeId === 'long' && ['NODE_FAILED', 'NODE_RETRYING'].includes(e.event.type),
        ),
      {
        timeoutMs: 12_000,
        what: 'an event ending the dead worker attempt (node still RUNNING)',
        logs: () => app!.logs(),
      },
    );
    expect(await nodeStatus()).not.toBe('RUNNING');
    const ended = (await log.jobEventsAfter(jobId, 0, 1_000)).find(
      (e) => e.event.nodeId === 'long' && ['NODE_FAILED', 'NODE_RETRYING'].includes(e.event.type),
    );
    expect(ended?.event.message).toMatch(/^CRASHED: .*worker w-lost, which is gone/);
  }, 90_000);
});
