import { once } from 'node:events';
import { connect } from 'node:net';
import { waitFor } from '#libs/testing';
import {
  collect,
  gql,
  SLEEP_JOB,
  SLEEP_VARS,
  startGatewayStack,
  wsClient,
  type GatewayStack,
} from '../gateway-support/gateway-stack.js';

const EVENTS = `subscription($id: ID!) { jobEvents(jobId: $id) { seq type nodeId job { id status artifacts { name } } } }`;

/**
 * Subscriptions through the gateway against the real subgraphs and a gpu-worker running test tasks:
 * fields of both subgraphs per event, a jobs-subgraph restart mid-stream, many concurrent subscribers,
 * and shutdown closing clients with 1001.
 */
describe('gateway subscriptions', () => {
  let stack: GatewayStack;
  let key: string;

  beforeAll(async () => {
    // 200 subscribes in a burst from one key: a burst allowance to match (each subscribe takes a token).
    stack = await startGatewayStack({ worker: true, gatewayEnv: { RATE_LIMIT_BURST: '1000' } });
    key = (await stack.createKey('acme', ['jobs:read', 'jobs:write', 'artifacts:read'])).key;
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const submitSleep = async (ms: number): Promise<string> => {
    const r = await gql(stack.url, key, SLEEP_JOB, SLEEP_VARS(ms));
    if (!r.body.data) throw new Error(JSON.stringify(r.body.errors));
    return r.body.data.submitJob.id;
  };

  it('resolves fields of both subgraphs on every event, in order, and completes after the terminal event', async () => {
    const jobId = await submitSleep(500);
    const client = wsClient(stack.wsUrl, key);
    const sub = collect(client, EVENTS, { id: jobId });
    expect(await sub.done).toBe('complete');
    const events = sub.results.map((r) => {
      expect(r.errors).toBeUndefined();
      return r.data.jobEvents;
    });
    expect(events.map((e: any) => e.seq)).toEqual(events.map((_: unknown, i: number) => i + 1));
    expect(events[0].type).toBe('JOB_QUEUED');
    expect(events.at(-1).type).toBe('JOB_SUCCEEDED');
    expect(events.at(-1).job).toEqual({ id: jobId, status: 'SUCCEEDED', artifacts: [] }); // artifacts: the other subgraph
    await client.dispose();
  }, 60_000);

  it("another tenant's job answers as not found to queries, mutations and subscriptions", async () => {
    const jobId = await submitSleep(200);
    const other = (await stack.createKey('globex', ['jobs:read', 'jobs:write', 'artifacts:read'])).key;
    const q = await gql(stack.url, other, 'query($id: ID!) { job(id: $id) { id status } }', { id: jobId });
    expect(q.body.data?.job ?? null).toBeNull();
    const m = await gql(stack.url, other, 'mutation($id: ID!) { cancelJob(id: $id) { id } }', { id: jobId });
    expect(m.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const client = wsClient(stack.wsUrl, other);
    const sub = collect(client, EVENTS, { id: jobId });
    await sub.done;
    expect(sub.results.flatMap((r) => r.errors ?? []).map((e: any) => e.extensions.code)).toEqual([
      'NOT_FOUND',
    ]);
    expect(sub.results.some((r) => r.data?.jobEvents)).toBe(false);
    await client.dispose();
    // the owner still sees it
    expect(
      (await gql(stack.url, key, 'query($id: ID!) { job(id: $id) { id } }', { id: jobId })).body.data.job.id,
    ).toBe(jobId);
  }, 60_000);

  it('jobs-subgraph restarted mid-subscription: the client sees every event exactly once', async () => {
    const jobId = await submitSleep(6_000);
    const client = wsClient(stack.wsUrl, key);
    const sub = collect(client, EVENTS, { id: jobId });
    await waitFor(() => sub.results.some((r) => r.data?.jobEvents.type === 'NODE_STARTED'), {
      timeoutMs: 30_000,
    });
    await stack.jobs.kill('SIGKILL');
    await stack.restartJobs();
    expect(await sub.done).toBe('complete');
    const seqs = sub.results.map((r) => r.data.jobEvents.seq);
    expect(seqs).toEqual(seqs.map((_: unknown, i: number) => i + 1)); // contiguous from 1: none lost, none twice
    expect(sub.results.at(-1)!.data.jobEvents.type).toBe('JOB_SUCCEEDED');
    // the gateway's upstream connection did go down and come back (not a lucky run that missed the restart)
    const metrics = await (await fetch(stack.url.replace('/graphql', '/metrics'))).text();
    expect(metrics).toMatch(/switchyard_gateway_upstream_ws_total\{[^}]*event="reconnected"[^}]*\} [1-9]/);
    await client.dispose();
  }, 180_000);

  it('200 concurrent subscriptions on one gateway all receive their events', async () => {
    const jobId = await submitSleep(3_000);
    const clients = Array.from({ length: 4 }, () => wsClient(stack.wsUrl, key));
    const subs = Array.from({ length: 200 }, (_, i) =>
      collect(clients[i % clients.length]!, EVENTS, { id: jobId }),
    );
    const outcomes = await Promise.all(subs.map((s) => s.done));
    expect(outcomes.every((o) => o === 'complete')).toBe(true);
    const expected = subs[0]!.results.map((r) => r.data.jobEvents.seq);
    expect(expected.at(-1)).toBeGreaterThan(3);
    for (const s of subs) expect(s.results.map((r) => r.data.jobEvents.seq)).toEqual(expected);
    for (const c of clients) await c.dispose();
  }, 180_000);

  it('a client completing ends its upstream subscription; others on the connection continue', async () => {
    const jobId = await submitSleep(2_000);
    const client = wsClient(stack.wsUrl, key);
    const a = collect(client, EVENTS, { id: jobId });
    const b = collect(client, EVENTS, { id: jobId });
    await waitFor(() => a.results.length > 0, { timeoutMs: 20_000 });
    a.dispose();
    expect(await b.done).toBe('complete');
    const metrics = await (await fetch(stack.url.replace('/graphql', '/metrics'))).text();
    expect(metrics).toMatch(/switchyard_gateway_subscriptions\{[^}]*\} 0/);
    await client.dispose();
  }, 60_000);

  it('on SIGTERM, drains HTTP then closes graphql-ws clients with 1001 and exits 0', async () => {
    const client = wsClient(stack.wsUrl, key);
    const feed = collect(client, 'subscription { jobFeed { seq type } }');
    // A keep-alive connection whose request is in flight when the drain starts: its answer must close it, or a
    // busy client could go on sending requests on it and hold the drain open until the grace runs out.
    const body = JSON.stringify({ query: '{ __typename }' });
    const { hostname, port } = new URL(stack.url);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    const closed = once(socket, 'close');
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: ${hostname}\r\nConnection: keep-alive\r\n` +
        `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n` +
        body.slice(0, 5),
    );
    await new Promise((r) => setTimeout(r, 500));
    const stopped = stack.gateway.stop(15_000);
    // the drain has begun once the gateway stops accepting connections (it marks in-flight requests first);
    // polled, not a fixed 500 ms: on a loaded machine the signal may take longer, and the request would
    // finish before the drain
    const accepting = () =>
      new Promise<boolean>((resolve) => {
        const probe = connect(Number(port), hostname);
        probe.once('connect', () => (probe.destroy(), resolve(true)));
        probe.once('error', () => resolve(false));
      });
    await waitFor(async () => !(await accepting()), { timeoutMs: 10_000, what: 'the drain to begin' });
    socket.write(body.slice(5));
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer).toContain('"__typename":"Query"');
    const exit = await stopped;
    expect(await feed.done).toBe('error');
    expect(client.closes).toContain(1001);
    expect(exit).toBe(0);
    await client.dispose();
  }, 60_000);
});
