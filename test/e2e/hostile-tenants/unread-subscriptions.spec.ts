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
const SUBSCRIPTIONS = 40;
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

async function refusedBufferedBytes(stack: GatewayStack): Promise<number> {
  const text = await (await fetch(stack.url.replace(/\/graphql$/, '/metrics'))).text();
  return parseExposition(text)
    .samples.filter(
      (s) => s.name === 'switchyard_gateway_refused_total' && s.labels.reason === 'bufferedBytesPerKey',
    )
    .reduce((n, s) => n + s.value, 0);
}

/**
 * A client that subscribes and then stops reading its socket made the gateway hold every event of every one of
 * its subscriptions (up to SUBSCRIBER_BUFFER = 512 each, however large; events are charged only once delivered):
 * 40 replays of a job whose events carry 15 KB of labels held ~40 MB for one key, and 1,000 subscriptions would
 * pass the gateway's 4 GB heap. With BUFFERED_BYTES_PER_KEY its subscriptions end UNAVAILABLE
 * (`limit: bufferedBytesPerKey`, resumeAfter their last delivered event) once the key holds more, while another
 * tenant's subscription on the same gateway gets all of its events; the bytes are given back as they end.
 */
describe('hostile tenant: subscriptions whose client stops reading', () => {
  let stack: GatewayStack;

  beforeAll(async () => {
    stack = await startGatewayStack({
      worker: true,
      // WS_PING_MS: the keep-alive would close the paused socket (its pong waits behind the events) on a slow machine
      gatewayEnv: { BUFFERED_BYTES_PER_KEY: String(BUDGET), WS_PING_MS: '600000' },
    });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('ends them past the key bound, without loss (resumeAfter), and another key is unaffected', async () => {
    const { key: hostile } = await stack.createKey('hostile', ['jobs:read', 'jobs:write']);
    const { key: victim } = await stack.createKey('victim', ['jobs:read', 'jobs:write']);
    const jobId = await finishedJob(stack, hostile, LABELS);

    // the hostile client: many replays (distinct documents: no sharing), then it stops reading
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
        ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${hostile}` } })),
      );
      ws.once('message', () => resolve()); // connection_ack
      ws.once('error', reject);
    });
    const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    for (let i = 0; i < SUBSCRIPTIONS; i++)
      ws.send(
        JSON.stringify({
          id: String(i),
          type: 'subscribe',
          payload: { query: LABELLED(String(i)), variables: { j: jobId } },
        }),
      );
    socket.pause();

    // the gateway ends what passes the key's bound (the old gateway held it all, and this waited in vain)
    const deadline = Date.now() + 60_000;
    while ((await refusedBufferedBytes(stack)) === 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 250));
    }

    // meanwhile another tenant's job and subscription on the same gateway: every event, no error
    const victimJob = await finishedJob(stack, victim);
    const victimWs = wsClient(stack.wsUrl, victim);
    const watched = collect(victimWs, LABELLED('victim'), { j: victimJob });
    expect(await watched.done).toBe('complete');
    expect(watched.results.every((r) => !r.errors)).toBe(true);
    expect(watched.results.map((r) => r.data.e_victim.seq)).toEqual(watched.results.map((_, i) => i + 1));

    // reading again: each subscription is whole up to where it ended, and a cut one names where to resume
    socket.resume();
    const allComplete = async () => {
      for (;;) {
        const complete = [...frames.values()].filter((f) => f.some((x) => x.type === 'complete')).length;
        if (complete === SUBSCRIPTIONS) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await allComplete();
    let cut = 0;
    let total = 0;
    for (let i = 0; i < SUBSCRIPTIONS; i++) {
      const nexts = frames.get(String(i))!.filter((f) => f.type === 'next');
      const events = nexts.filter((f) => f.payload.data).map((f) => f.payload.data[`e_${i}`]);
      expect(events.map((e: { seq: number }) => e.seq)).toEqual(events.map((_: unknown, k: number) => k + 1));
      const errors = nexts.filter((f) => f.payload.errors).map((f) => f.payload.errors[0].extensions);
      if (errors.length === 0) {
        total = Math.max(total, events.length);
        continue;
      }
      cut++;
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'UNAVAILABLE', limit: 'bufferedBytesPerKey', max: BUDGET });
      if (events.length > 0) expect(errors[0].resumeAfter).toBe(events.at(-1).cursor);
    }
    expect(cut).toBeGreaterThan(0);
    ws.close();

    // every byte was given back: the same key, reading, replays the whole job, resuming a cut one included
    const readerWs = wsClient(stack.wsUrl, hostile);
    const replay = collect(readerWs, LABELLED('again'), { j: jobId });
    expect(await replay.done).toBe('complete');
    expect(replay.results.every((r) => !r.errors)).toBe(true);
    expect(replay.results.length).toBeGreaterThanOrEqual(total);
    expect(replay.results.length).toBeGreaterThan(2 * NODES);
    await readerWs.dispose();
    await victimWs.dispose();
  }, 180_000);
});
