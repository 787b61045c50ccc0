import { Redis } from 'ioredis';
import { IDENTITY_HEADER, signIdentity } from '#libs/auth';
import { freePort, startApp, waitFor, type AppHandle } from '#libs/testing';
import {
  collect,
  IDENTITY_SECRET,
  SLEEP_JOB,
  SLEEP_VARS,
  startGatewayStack,
  wsClient,
  type GatewayStack,
} from '../gateway-support/gateway-stack.js';

const FEED = `subscription { jobFeed { type jobId feedCursor } }`;

/**
 * Review finding (s15): a `jobFeed` subscriber (no `after`) whose upstream reconnects before it got its first event.
 * The forwarder resumes a reconnected jobFeed from the feedCursor of the last event that arrived; with none yet the
 * resume variable stays null, so the new upstream subscription starts "now" and whatever the feed got while the
 * jobs subgraph it was on was down (another replica kept applying reports) never reaches the client: no event,
 * no error, no resumeAfter. docs/deployment.md: "our gateway resumes a shared or reconnected `jobFeed`".
 */
describe('gateway jobFeed across a jobs-subgraph restart before its first event', () => {
  let stack: GatewayStack;
  let key: string;
  let replica: AppHandle | undefined;

  beforeAll(async () => {
    stack = await startGatewayStack({ worker: true });
    key = (await stack.createKey('acme', ['jobs:read', 'jobs:write', 'artifacts:read'])).key;
    const port = await freePort();
    // a second jobs-subgraph replica on the same Redis: it keeps the system going while the gateway's is down
    replica = await startApp(
      'dist/apps/jobs-subgraph/src/main.js',
      { ...stack.env, JOBS_SUBGRAPH_PORT: String(port) },
      port,
    );
    await replica.waitReady(90_000);
  }, 300_000);

  afterAll(async () => {
    await replica?.stop();
    await stack?.stop();
  });

  /** A request to the second replica, as the gateway would send it (signed identity of the key's tenant). */
  const onReplica = async <T>(query: string, variables: Record<string, unknown>): Promise<T> => {
    const identity = signIdentity(
      { tenant: 'acme', keyId: 'feed-test', scopes: ['jobs:read', 'jobs:write'] },
      [IDENTITY_SECRET],
    );
    const res = await fetch(`${replica!.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [IDENTITY_HEADER]: identity },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: unknown };
    if (!body.data) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };
  const submitOnReplica = async (ms: number) =>
    (await onReplica<{ submitJob: { id: string } }>(SLEEP_JOB, SLEEP_VARS(ms))).submitJob.id;
  const succeeded = async (id: string) =>
    (
      await onReplica<{ job: { status: string } | null }>('query($id: ID!) { job(id: $id) { status } }', {
        id,
      })
    ).job?.status === 'SUCCEEDED';

  it('every job-level event of the tenant reaches the subscriber once, also those published while its upstream was down', async () => {
    const client = wsClient(stack.wsUrl, key);
    const feed = collect(client, FEED);
    // the subscription is set up end to end (no event yet: the tenant has done nothing): the jobs subgraph
    // follows the tenant's feed (its wakeup channel subscribed), so it got the subscribe, and the gateway its head.
    // Polled: a fixed 2 s could end first on a loaded CI machine, and the head path would not be what is tested.
    const redis = new Redis(stack.redis.url);
    try {
      await waitFor(
        async () => ((await redis.pubsub('CHANNELS', '*:tenant:acme:feed')) as string[]).length > 0,
        {
          timeoutMs: 30_000,
          what: 'the jobs subgraph to follow the feed',
        },
      );
    } finally {
      redis.disconnect();
    }
    expect(feed.results).toEqual([]);

    await stack.jobs.kill('SIGKILL');
    const during = await submitOnReplica(200);
    await waitFor(() => succeeded(during), {
      timeoutMs: 30_000,
      what: `job ${during} (submitted while down)`,
    });
    await stack.restartJobs();
    await waitFor(
      async () =>
        /switchyard_gateway_upstream_ws_total\{[^}]*event="reconnected"[^}]*\} [1-9]/.test(
          await (await fetch(stack.url.replace('/graphql', '/metrics'))).text(),
        ),
      { timeoutMs: 30_000, what: 'the gateway upstream to reconnect' },
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const after = await submitOnReplica(200);
    await waitFor(
      () =>
        feed.results.some((r) => r.data?.jobFeed.jobId === after && r.data.jobFeed.type === 'JOB_SUCCEEDED'),
      { timeoutMs: 30_000, what: `the feed to show ${after} succeeded`, logs: () => stack.gateway.logs() },
    );
    expect(feed.results.flatMap((r) => r.errors ?? [])).toEqual([]);
    const seen = feed.results.map((r) => `${r.data.jobFeed.jobId} ${r.data.jobFeed.type}`);
    // the job that ran while the gateway's jobs subgraph was down: its end is in the feed, so it is owed
    expect(seen).toContain(`${during} JOB_SUCCEEDED`);
    expect(new Set(seen).size).toBe(seen.length);
    feed.dispose();
    await client.dispose();
  }, 180_000);
});
