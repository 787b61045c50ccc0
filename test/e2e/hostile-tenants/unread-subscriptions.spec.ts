import WebSocket from 'ws';
import {
  collect,
  gql,
  startGatewayStack,
  wsClient,
  type GatewayStack,
} from '../gateway-support/gateway-stack.js';
import { parseExposition } from '../observability/metrics-catalog.js';

const SUBMIT = `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id } }`;
const STATUS = `query($id: ID!) { job(id: $id) { status } }`;
/** Cheap by cost (labels count 1), large by bytes: every event carries the job's ~15 KB of labels. */
const LABELLED = (alias: string) =>
  `subscription S_${alias}($j: ID!, $after: String) { e_${alias}: jobEvents(jobId: $j, after: $after) { seq cursor job { labels } } }`;
const BUDGET = 2 * 1024 * 1024;
/** Three hostile keys at BUDGET each pass it. */
const TOTAL = 4 * 1024 * 1024;
const SUBSCRIPTIONS = 40;
const PER_CLIENT = 20;
const NODES = 30;

/** 60 labels of 240 characters: ~15 KB, under LABELS_MAX_BYTES (16 KB). */
const LABELS = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 'x'.repeat(240)]));

type Frame = { id?: string; type: string; payload?: any };

async function finishedJob(stack: GatewayStack, key: string, labels?: object): Promise<string> {
  const nodes = Array.from({ length: NODES }, (_, i) => ({
    id: `n${i}`,
    task: 'test.sleep',
    inputs: { ms: 0 },
  }));
  const submitted = await gql(stack.url, key, SUBMIT, {
    input: { graph: { nodes }, ...(labels ? { labels } : {}) },
  });
  expect(submitted.body.errors).toBeUndefined();
  const id = submitted.body.data.submitJob.id as string;
  for (;;) {
    const { body } = await gql(stack.url, key, STATUS, { id });
    if (body.data?.job?.status === 'SUCCEEDED') return id;
    expect(['QUEUED', 'RUNNING']).toContain(body.data?.job?.status);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function metric(stack: GatewayStack, name: string, reason?: string): Promise<number> {
  const text = await (await fetch(stack.url.replace(/\/graphql$/, '/metrics'))).text();
  return parseExposition(text)
    .samples.filter((s) => s.name === name && (reason === undefined || s.labels.reason === reason))
    .reduce((n, s) => n + s.value, 0);
}
const refused = (stack: GatewayStack, limit: string) =>
  metric(stack, 'switchyard_gateway_refused_total', limit);
const bufferedBytes = (stack: GatewayStack) => metric(stack, 'switchyard_gateway_buffered_bytes');

/** A client that opens `count` replays of `jobId` (distinct documents: no sharing), then stops reading. */
async function pausedClient(stack: GatewayStack, key: string, jobId: string, count: number) {
  const ws = new WebSocket(stack.wsUrl, 'graphql-transport-ws');
  const frames = new Map<string, Frame[]>();
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as Frame;
    if (frame.id === undefined) return;
    const list = frames.get(frame.id) ?? [];
    list.push(frame);
    frames.set(frame.id, list);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } })),
    );
    ws.once('message', () => resolve()); // connection_ack
    ws.once('error', reject);
  });
  const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
  for (let i = 0; i < count; i++)
    ws.send(
      JSON.stringify({
        id: String(i),
        type: 'subscribe',
        payload: { query: LABELLED(String(i)), variables: { j: jobId } },
      }),
    );
  socket.pause();
  /** Reads again until every subscription completed; their errors' extensions, and events, by id. */
  const drain = async () => {
    socket.resume();
    for (;;) {
      const complete = [...frames.values()].filter((f) => f.some((x) => x.type === 'complete')).length;
      if (complete === count) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return Array.from({ length: count }, (_, i) => {
      const nexts = frames.get(String(i))!.filter((f) => f.type === 'next');
      return {
        events: nexts.filter((f) => f.payload.data).map((f) => f.payload.data[`e_${i}`]),
        errors: nexts.filter((f) => f.payload.errors).map((f) => f.payload.errors[0].extensions),
      };
    });
  };
  return { ws, drain };
}

async function until(what: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await what())) {
    expect(Date.now()).toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Terminal events are always queued (taken past the bounds): one per subscription, ~16 KB each here. */
const TERMINAL_SLACK = (subscriptions: number) => subscriptions * 20 * 1024;

/** Each cut subscription is whole up to where it ended and names where to resume; the limits that cut them. */
function checkCut(results: Awaited<ReturnType<Awaited<ReturnType<typeof pausedClient>>['drain']>>) {
  const limits: string[] = [];
  let longest = 0;
  for (const { events, errors } of results) {
    expect(events.map((e: { seq: number }) => e.seq)).toEqual(events.map((_: unknown, k: number) => k + 1));
    if (errors.length === 0) {
      longest = Math.max(longest, events.length);
      continue;
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'UNAVAILABLE' });
    expect(errors[0].max).toBe(errors[0].limit === 'bufferedBytesTotal' ? TOTAL : BUDGET);
    if (events.length > 0) expect(errors[0].resumeAfter).toBe(events.at(-1).cursor);
    limits.push(errors[0].limit);
  }
  return { limits, longest };
}

/**
 * A client that subscribes and then stops reading its socket made the gateway hold every event of every one of
 * its subscriptions (up to SUBSCRIBER_BUFFER = 512 each, however large; events are charged only once delivered):
 * 40 replays of a job whose events carry 15 KB of labels held ~40 MB for one key, and 1,000 subscriptions would
 * pass the gateway's 4 GB heap. With BUFFERED_BYTES_PER_KEY its subscriptions end UNAVAILABLE
 * (`limit: bufferedBytesPerKey`, resumeAfter their last delivered event) once the key holds more, while another
 * tenant's subscription on the same gateway gets all of its events; the bytes are given back as they end. What
 * its connections' send buffers hold counts too, and so does every key's together (BUFFERED_BYTES_TOTAL).
 */
describe('hostile tenant: subscriptions whose client stops reading', () => {
  let stack: GatewayStack;

  beforeAll(async () => {
    stack = await startGatewayStack({
      worker: true,
      gatewayEnv: {
        BUFFERED_BYTES_PER_KEY: String(BUDGET),
        BUFFERED_BYTES_TOTAL: String(TOTAL),
        // the keep-alive would close a paused socket (its pong waits behind the events) on a slow machine
        WS_PING_MS: '600000',
      },
    });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('ends them past the key bound, without loss (resumeAfter), and another key is unaffected', async () => {
    const { key: hostile } = await stack.createKey('hostile', ['jobs:read', 'jobs:write']);
    const { key: victim } = await stack.createKey('victim', ['jobs:read', 'jobs:write']);
    const jobId = await finishedJob(stack, hostile, LABELS);

    const client = await pausedClient(stack, hostile, jobId, SUBSCRIPTIONS);
    // the gateway ends what passes the key's bound (the old gateway held it all, and this waited in vain)
    await until(async () => (await refused(stack, 'bufferedBytesPerKey')) > 0);
    // what it holds for the key, its connection's send buffer included, stays within the bound
    expect(await bufferedBytes(stack)).toBeLessThanOrEqual(BUDGET + TERMINAL_SLACK(SUBSCRIPTIONS));

    // meanwhile another tenant's job and subscription on the same gateway: every event, no error
    const victimJob = await finishedJob(stack, victim);
    const victimWs = wsClient(stack.wsUrl, victim);
    const watched = collect(victimWs, LABELLED('victim'), { j: victimJob });
    expect(await watched.done).toBe('complete');
    expect(watched.results.every((r) => !r.errors)).toBe(true);
    expect(watched.results.map((r) => r.data.e_victim.seq)).toEqual(watched.results.map((_, i) => i + 1));

    // reading again: each subscription is whole up to where it ended, and a cut one names where to resume
    const { limits, longest } = checkCut(await client.drain());
    expect(limits.length).toBeGreaterThan(0);
    expect(new Set(limits)).toEqual(new Set(['bufferedBytesPerKey']));
    client.ws.close();

    // every byte was given back: the same key, reading, replays the whole job, resuming a cut one included
    const readerWs = wsClient(stack.wsUrl, hostile);
    const replay = collect(readerWs, LABELLED('again'), { j: jobId });
    expect(await replay.done).toBe('complete');
    expect(replay.results.every((r) => !r.errors)).toBe(true);
    expect(replay.results.length).toBeGreaterThanOrEqual(longest);
    expect(replay.results.length).toBeGreaterThan(2 * NODES);
    await readerWs.dispose();
    await victimWs.dispose();
    await until(async () => (await bufferedBytes(stack)) === 0, 10_000);
  }, 180_000);

  it('bounds every key together: past the total, the keys holding the most are cut, a reader goes on', async () => {
    const keys = await Promise.all(
      ['h1', 'h2', 'h3'].map(async (name) => (await stack.createKey(name, ['jobs:read', 'jobs:write'])).key),
    );
    const { key: victim } = await stack.createKey('victim2', ['jobs:read', 'jobs:write']);
    const jobs = await Promise.all(keys.map((key) => finishedJob(stack, key, LABELS)));
    // its events are small: a reader holds a frame or two, far under a share (a 15 KB-per-event replay written in one
    // burst would hold more than this test's 1 MiB share while it is being written)
    const victimJob = await finishedJob(stack, victim);

    // three keys, each under its own bound, together past the total
    const clients = await Promise.all(keys.map((key, i) => pausedClient(stack, key, jobs[i]!, PER_CLIENT)));
    await until(async () => (await refused(stack, 'bufferedBytesTotal')) > 0);
    expect(await bufferedBytes(stack)).toBeLessThanOrEqual(TOTAL + TERMINAL_SLACK(3 * PER_CLIENT));

    // a reader holds little, under its share: served in full while the total is reached
    const victimWs = wsClient(stack.wsUrl, victim);
    const watched = collect(victimWs, LABELLED('victim'), { j: victimJob });
    expect(await watched.done).toBe('complete');
    expect(watched.results.every((r) => !r.errors)).toBe(true);
    expect(watched.results.length).toBeGreaterThan(2 * NODES);

    const limits = (await Promise.all(clients.map((c) => c.drain()))).flatMap((r) => checkCut(r).limits);
    expect(limits).toContain('bufferedBytesTotal');
    for (const c of clients) c.ws.close();
    await victimWs.dispose();
    await until(async () => (await bufferedBytes(stack)) === 0, 10_000);
  }, 180_000);
});
