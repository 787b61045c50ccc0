/**
 * Subscription fan-out through the gateway (issue 12, target 3), the stack started as `npm start` does it
 * (launchStack). Two parts, `BENCH_PARTS=fanout,feed`:
 *
 * fanout: one job's events to BENCH_FANOUT_SUBSCRIBERS (1,000) `jobEvents` subscribers, one connection each,
 *   against a bare graphql-ws broadcaster (gateway-support/fanout-broadcaster.ts, its own process: one
 *   subscription to the jobs subgraph per job, pushed to all of its clients) in the same run, rounds
 *   alternating. Latency = arrival at the client − the event's `at` (written by the scheduler), over the
 *   events written after every subscriber was live. Target: p99 ≤ 2× the broadcaster's.
 * feed: BENCH_FEED_CONNECTIONS × BENCH_FEED_PER_CONNECTION (1,000 × 10) `jobFeed` subscriptions, then
 *   BENCH_FEED_JOBS (5) jobs at once: every JOB_* event of every job to every subscription, the last one
 *   within 3 s of its job's end; peak RSS of gateway + jobs subgraph ≤ 1 GiB.
 *
 * Exits 1 when a subscriber misses an event or gets one twice, or a job fails.
 * Run after `npm run build`: `node dist/bench/gateway-fanout.js`.
 */
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from 'graphql-ws';
import {
  fmt,
  median,
  quantile,
  ratio,
  record,
  rssBytes,
  until,
  wsClients,
  type RecordedSubscription,
} from './gateway-support/fanout-clients.js';
import { launchStack } from './stack-support/launched-stack.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const num = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
const SUBSCRIBERS = num('BENCH_FANOUT_SUBSCRIBERS', 1000);
const ROUNDS = num('BENCH_ROUNDS', 3);
const JOB_MS = num('BENCH_JOB_MS', 10_000);
const FEED_CONNECTIONS = num('BENCH_FEED_CONNECTIONS', 1000);
const FEED_PER_CONNECTION = num('BENCH_FEED_PER_CONNECTION', 10);
const FEED_JOBS = num('BENCH_FEED_JOBS', 5);
const FEED_WAVE = num('BENCH_FEED_WAVE', 20);
const WARMUP_SUBSCRIBERS = Math.min(100, SUBSCRIBERS);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'fanout,feed').split(','));
const SECRET = 'bench-fanout-identity-secret-0123456789abcdef';
const FEED_TOTAL = FEED_CONNECTIONS * FEED_PER_CONNECTION;
const step = (what: string) => console.error(`[gateway-fanout] ${what}`);
const failures: string[] = [];

const stack = await launchStack({
  SWITCHYARD_IDENTITY_SECRET: SECRET,
  SWITCHYARD_TEST_TASKS: '1',
  WORKER_NVIDIA_SMI: '/nonexistent/nvidia-smi',
  WORKER_CPU_ACTORS: String(Math.max(2, FEED_JOBS)),
  MAX_SUBSCRIPTIONS_PER_KEY: String(Math.max(SUBSCRIBERS, FEED_TOTAL) * 2),
  // one key opens a connection per fan-out subscriber and per feed connection
  MAX_CONNECTIONS_PER_KEY: String((SUBSCRIBERS + FEED_CONNECTIONS) * 2),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: String(Math.max(100, FEED_PER_CONNECTION)),
  RATE_LIMIT_PER_MINUTE: '100000000',
  RATE_LIMIT_BURST: '10000000',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
});
const stopAll: Array<() => unknown> = [() => stack.stop()];
const finish = async (code: number) => {
  for (const s of stopAll.reverse()) await Promise.resolve(s()).catch(() => undefined);
  process.exit(code);
};
process.once('SIGINT', () => void finish(130));

const gatewayParams = { authorization: `Bearer ${stack.key}` };
const submit = async (ms: number): Promise<string> => {
  const res = await fetch(stack.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...gatewayParams },
    body: JSON.stringify({
      query: 'mutation($i: SubmitJobInput!) { submitJob(input: $i) { id } }',
      variables: { i: { graph: { nodes: [{ id: 's', task: 'test.sleep', inputs: { ms } }] } } },
    }),
  });
  const body = (await res.json()) as { data?: { submitJob: { id: string } }; errors?: unknown };
  if (!body.data) throw new Error(`submitJob failed: ${JSON.stringify(body.errors)}`);
  return body.data.submitJob.id;
};
const disposeAll = (clients: Client[]) => Promise.all(clients.map((c) => c.dispose()));

// ---------------------------------------------------------------- fanout
interface FanoutRound {
  p50: number;
  p99: number;
  max: number;
  liveEvents: number;
  subscribeMs: number;
}

async function fanoutRound(
  label: string,
  wsUrl: string,
  params: Record<string, unknown>,
  subscribers = SUBSCRIBERS,
  jobMs = JOB_MS,
): Promise<FanoutRound> {
  const jobId = await submit(jobMs);
  const clients = wsClients(wsUrl, subscribers, params);
  const started = Date.now();
  const subs = clients.map((c) =>
    record(c, 'subscription($id: ID!) { jobEvents(jobId: $id) { seq type at } }', 'jobEvents', { id: jobId }),
  );
  // Both replay from seq 1: a subscriber that has its first event is live.
  await until(
    () => subs.every((s) => s.events.length > 0 || s.outcome),
    180_000,
    `${label}: subscribers live`,
  );
  const liveFrom = Date.now();
  await Promise.race([
    Promise.all(subs.map((s) => s.done)),
    new Promise((r) => setTimeout(r, jobMs + 120_000)),
  ]);
  const expected = subs[0]!.events.map((e) => e.seq);
  subs.forEach((s, i) => {
    const seqs = s.events.map((e) => e.seq);
    const contiguous = seqs.every((v, j) => v === j + 1);
    if (s.outcome !== 'complete' || !contiguous || seqs.length !== expected.length)
      failures.push(
        `${label}: subscriber ${i} ended ${s.outcome ?? 'not at all'} with seqs [${seqs.join(',')}]`,
      );
  });
  if (subs[0]!.events.at(-1)?.type !== 'JOB_SUCCEEDED')
    failures.push(`${label}: job ${jobId} did not succeed`);
  const latencies = subs
    .flatMap((s) =>
      s.events.filter((e) => Date.parse(e.at) > liveFrom).map((e) => e.arrived - Date.parse(e.at)),
    )
    .sort((a, b) => a - b);
  await disposeAll(clients);
  // Where the tail is: per live event, the median and slowest delivery (stderr, for diagnosis).
  const perEvent = new Map<string, number[]>();
  for (const s of subs)
    for (const e of s.events)
      if (Date.parse(e.at) > liveFrom) {
        const key = `${e.seq} ${e.type}`;
        const list = perEvent.get(key) ?? [];
        list.push(e.arrived - Date.parse(e.at));
        perEvent.set(key, list);
      }
  process.stderr.write(
    `${label} per event (p50/max ms): ${[...perEvent]
      .map(
        ([k, l]) =>
          `${k} ${quantile(
            l.sort((a, b) => a - b),
            0.5,
          )}/${l.at(-1)}`,
      )
      .join(', ')}\n`,
  );
  const liveEvents = latencies.length / subscribers;
  if (liveEvents < 3)
    failures.push(`${label}: only ${liveEvents} live events per subscriber; raise BENCH_JOB_MS`);
  step(
    `${label}: p50 ${quantile(latencies, 0.5)} ms, p99 ${quantile(latencies, 0.99)} ms over ${liveEvents} live events each`,
  );
  return {
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies.at(-1) ?? NaN,
    liveEvents,
    subscribeMs: liveFrom - started,
  };
}

async function startBroadcaster(): Promise<string> {
  const child = spawn(process.execPath, [join(ROOT, 'dist/bench/gateway-support/fanout-broadcaster.js')], {
    cwd: ROOT,
    env: {
      ...process.env,
      FANOUT_JOBS_WS_URL: `ws://127.0.0.1:${stack.ports.jobs}/graphql`,
      FANOUT_IDENTITY_SECRET: SECRET,
      FANOUT_TENANT: 'dev',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  stopAll.push(() => child.kill('SIGKILL'));
  const port = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) res(m[1]!);
    });
    child.once('exit', (code) => rej(new Error(`the broadcaster exited with ${code}`)));
  });
  return `ws://127.0.0.1:${port}/graphql`;
}

async function fanoutPart(): Promise<string> {
  const broadcasterUrl = await startBroadcaster();
  const peer: FanoutRound[] = [];
  const ours: FanoutRound[] = [];
  // Warm-up (not counted): both servers' first connections and JIT.
  step('warm-up round (not counted)');
  await fanoutRound('broadcaster warm-up', broadcasterUrl, {}, WARMUP_SUBSCRIBERS, 3_000);
  await fanoutRound('gateway warm-up', stack.wsUrl, gatewayParams, WARMUP_SUBSCRIBERS, 3_000);
  failures.splice(0, failures.length, ...failures.filter((f) => !f.includes('warm-up: only')));
  for (let round = 1; round <= ROUNDS; round++) {
    step(`round ${round}/${ROUNDS}: ${SUBSCRIBERS} subscribers, one connection each`);
    peer.push(await fanoutRound(`broadcaster r${round}`, broadcasterUrl, {}));
    ours.push(await fanoutRound(`gateway r${round}`, stack.wsUrl, gatewayParams));
  }
  const m = (rs: FanoutRound[], k: keyof FanoutRound) => median(rs.map((r) => r[k]));
  const row = (label: string, k: keyof FanoutRound, digits = 0) =>
    `| ${label} | ${fmt(m(peer, k), digits)} | ${fmt(m(ours, k), digits)} | ${ratio(m(ours, k), m(peer, k))} |`;
  const p99Ratio = m(ours, 'p99') / m(peer, 'p99');
  return [
    `### fanout: one job's events to ${fmt(SUBSCRIBERS)} jobEvents subscribers, one connection each`,
    '',
    '| metric (median of rounds) | bare graphql-ws broadcaster | Switchyard gateway | ours/peer |',
    '| --- | ---: | ---: | ---: |',
    row('event latency p50, ms', 'p50'),
    row('event latency p99, ms', 'p99'),
    row('event latency max, ms', 'max'),
    row('live events per subscriber', 'liveEvents', 1),
    row(`all ${SUBSCRIBERS} subscribed and live, ms`, 'subscribeMs'),
    '',
    `p99 ours/peer per round: ${ours.map((o, i) => ratio(o.p99, peer[i]!.p99)).join(', ')}; target ≤ 2×: ${p99Ratio <= 2 ? 'met' : 'NOT met'}`,
  ].join('\n');
}

// ---------------------------------------------------------------- feed
async function feedPart(): Promise<string> {
  const pids = stack.pids();
  const rss = () => ({ gateway: rssBytes(pids.gateway), jobs: rssBytes(pids['jobs-subgraph']) });
  const before = rss();
  let peak = { gateway: 0, jobs: 0, sum: 0 };
  const sampler = setInterval(() => {
    const r = rss();
    if (r.gateway + r.jobs > peak.sum) peak = { ...r, sum: r.gateway + r.jobs };
  }, 200);
  stopAll.push(() => clearInterval(sampler));

  step(`feed: ${FEED_TOTAL} jobFeed subscriptions on ${FEED_CONNECTIONS} connections`);
  // As a UI would, a connection the gateway dropped while it was overloaded is opened again (5 tries).
  const connections = { reconnected: 0 };
  const clients = wsClients(stack.wsUrl, FEED_CONNECTIONS, gatewayParams, 5, connections);
  const opened = Date.now();
  // In waves, as UIs connecting over a few seconds would (a refusal for an overloaded quota store is retried).
  const subs: Array<ReturnType<typeof record>> = [];
  for (let c = 0; c < clients.length; c++) {
    for (let i = 0; i < FEED_PER_CONNECTION; i++)
      subs.push(
        record(clients[c]!, 'subscription { jobFeed { jobId seq type at } }', 'jobFeed', undefined, {
          retryUnavailable: true,
        }),
      );
    if ((c + 1) % FEED_WAVE === 0) await new Promise((r) => setTimeout(r, 250));
  }
  // jobFeed starts "now": probe jobs until every subscription saw one, so all are live before the measured jobs.
  const probes = new Set<string>();
  let live = false;
  const prober = (async () => {
    while (!live) {
      // an overloaded gateway may refuse one: the next probe tries again
      const id = await submit(1).catch((e: unknown) => step(`probe submit failed: ${String(e)}`));
      if (id) probes.add(id);
      await new Promise((r) => setTimeout(r, 2_000));
    }
  })();
  try {
    await until(
      () => {
        const ended = subs.find((s) => s.outcome);
        if (ended) throw new Error(`a jobFeed subscription ended: ${ended.outcome}`);
        return subs.every((s) => s.events.some((e) => probes.has(e.jobId!)));
      },
      300_000,
      'every jobFeed subscription live',
    );
  } finally {
    live = true;
    await prober;
  }
  const liveMs = Date.now() - opened;
  const afterSubscribe = rss();
  step(`feed: all live after ${liveMs} ms; submitting ${FEED_JOBS} jobs`);

  const jobIds = await Promise.all(Array.from({ length: FEED_JOBS }, () => submit(1_000)));
  const measured = new Set(jobIds);
  // What each subscription must get: the JOB_* events of each job, from its own full event stream.
  const [checker] = wsClients(stack.wsUrl, 1, gatewayParams);
  const full = jobIds.map((id) =>
    record(checker!, 'subscription($id: ID!) { jobEvents(jobId: $id) { jobId seq type at } }', 'jobEvents', {
      id,
    }),
  );
  await Promise.race([Promise.all(full.map((f) => f.done)), new Promise((r) => setTimeout(r, 120_000))]);
  const expected = new Map(
    jobIds.map((id, i) => [id, full[i]!.events.filter((e) => e.type.startsWith('JOB_'))]),
  );
  for (const [id, events] of expected)
    if (events.at(-1)?.type !== 'JOB_SUCCEEDED') failures.push(`feed: job ${id} did not succeed`);
  const expectedTotal = [...expected.values()].reduce((n, es) => n + es.length, 0);
  const ownEvents = (s: RecordedSubscription) => s.events.filter((e) => measured.has(e.jobId!));
  await until(
    () => subs.every((s) => ownEvents(s).length >= expectedTotal),
    60_000,
    'every feed event',
  ).catch(
    () => undefined, // reported below, per subscription
  );
  clearInterval(sampler);

  let missing = 0;
  let delivered = 0;
  let worstLag = 0;
  const latencies: number[] = [];
  subs.forEach((s, i) => {
    const own = ownEvents(s);
    delivered += own.length;
    for (const [id, events] of expected) {
      const got = own.filter((e) => e.jobId === id);
      if (got.map((e) => e.seq).join() !== events.map((e) => e.seq).join()) {
        missing++;
        if (missing <= 5)
          failures.push(
            `feed: subscription ${i} got seqs [${got.map((e) => e.seq).join(',')}] of job ${id}, expected [${events.map((e) => e.seq).join(',')}]`,
          );
      }
      const end = Date.parse(events.at(-1)?.at ?? '');
      for (const e of got) {
        latencies.push(e.arrived - Date.parse(e.at));
        worstLag = Math.max(worstLag, e.arrived - end);
      }
    }
  });
  if (missing) failures.push(`feed: ${missing} (subscription, job) pairs missed or repeated events`);
  latencies.sort((a, b) => a - b);
  await disposeAll([...clients, checker!]);
  const mib = (b: number) => fmt(b / 2 ** 20);
  const total = FEED_TOTAL * expectedTotal;
  return [
    `### feed: ${fmt(FEED_TOTAL)} jobFeed subscriptions (${fmt(FEED_CONNECTIONS)} connections × ${FEED_PER_CONNECTION}), then ${FEED_JOBS} jobs`,
    '',
    '| metric | value | target |',
    '| --- | ---: | ---: |',
    `| all subscribed and live, ms | ${fmt(liveMs)} | |`,
    `| subscribes retried after UNAVAILABLE / connections reopened | ${fmt(subs.reduce((n, s) => n + s.retries, 0))} / ${fmt(connections.reconnected)} | |`,
    `| JOB_* events to deliver / delivered | ${fmt(total)} / ${fmt(delivered)}${missing ? ` (${missing} subscription×job pairs wrong)` : ''} | all, once |`,
    `| delivery latency p50 / p99, ms | ${fmt(quantile(latencies, 0.5))} / ${fmt(quantile(latencies, 0.99))} | |`,
    `| last delivery after its job's end, ms | ${fmt(worstLag)} | ≤ 3,000: ${worstLag <= 3000 ? 'met' : 'NOT met'} |`,
    `| RSS before subscribing: gateway / jobs subgraph, MiB | ${mib(before.gateway)} / ${mib(before.jobs)} | |`,
    `| RSS with all subscribed: gateway / jobs subgraph, MiB | ${mib(afterSubscribe.gateway)} / ${mib(afterSubscribe.jobs)} | |`,
    `| peak RSS gateway + jobs subgraph, MiB | ${mib(peak.gateway)} + ${mib(peak.jobs)} = ${mib(peak.sum)} | ≤ 1,024: ${peak.sum <= 2 ** 30 ? 'met' : 'NOT met'} |`,
  ].join('\n');
}

// ---------------------------------------------------------------- main
const sections: string[] = [];
try {
  if (PARTS.has('fanout')) sections.push(await fanoutPart());
  if (PARTS.has('feed')) sections.push(await feedPart());
} catch (e) {
  failures.push(`the run failed: ${e instanceof Error ? e.stack : String(e)}`);
}
console.log(
  `\n## gateway-fanout — ${new Date().toISOString()}\nmachine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${fmt(totalmem() / 2 ** 30, 1)} GiB, node ${process.version}; stack ready in ${fmt(stack.readyMs)} ms\n`,
);
console.log(sections.join('\n\n'));
if (failures.length) {
  const shown =
    failures.length > 25
      ? [...failures.slice(0, 15), `… ${failures.length - 20} more …`, ...failures.slice(-5)]
      : failures;
  console.log(`\nFAILED:\n${shown.join('\n')}`);
  await finish(1);
}
console.log('\nevery subscriber received every event exactly once');
await finish(0);
