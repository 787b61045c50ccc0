/**
 * 1,000 concurrent subscriptions through one gateway against the same 1,000 straight to the jobs subgraph,
 * on the same machine and run, printed as ratios. Every subscriber must receive every event of its job.
 * Run after a build: `node dist/bench/gateway-subscriptions.js` (BENCH_SUBSCRIBERS, BENCH_CONNECTIONS,
 * BENCH_JOB_MS to resize). Starts its own redis-server, local S3, both subgraphs, a gpu-worker with the
 * test tasks and the gateway, all on loopback, and stops them at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { ApiKeyStore, signIdentity } from '#libs/auth';
import { freePort, spawnRedisServer, spawnS3Server, waitForPort } from '#libs/local-stack';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const JOB_MS = Number(process.env.BENCH_JOB_MS ?? 4000);
const SECRET = 'bench-identity-secret-0123456789abcdef';
const step = (what: string) => console.error(`[gateway bench] ${what}`);

const children: ChildProcess[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-gw-bench-'));
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

async function waitReady(port: number, name: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null);
    if (res?.ok) return;
    if (Date.now() > deadline) throw new Error(`${name} not ready: ${res ? await res.text() : 'no answer'}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function startApp(app: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, `dist/apps/${app}/src/main.js`)], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

interface RunResult {
  label: string;
  subscribers: number;
  complete: number;
  eventsPerSubscriber: number;
  allEvents: boolean;
  p50: number;
  p95: number;
  max: number;
  wallMs: number;
}

/** Opens `SUBSCRIBERS` subscriptions to one job spread over CONNECTIONS sockets; latency = arrival − event.at. */
async function run(
  label: string,
  clients: Client[],
  query: string,
  jobId: string,
  submit: () => Promise<void>,
): Promise<RunResult> {
  const latencies: number[] = [];
  const perSub: number[][] = [];
  const started = Date.now();
  const done = Array.from({ length: SUBSCRIBERS }, (_, i) => {
    const seqs: number[] = [];
    perSub.push(seqs);
    return new Promise<boolean>((resolveDone) => {
      clients[i % clients.length]!.subscribe(
        { query, variables: { id: jobId } },
        {
          next: (r) => {
            const e = (r.data as { jobEvents?: { seq: number; at: string } } | undefined)?.jobEvents;
            if (!e) return;
            seqs.push(e.seq);
            latencies.push(Date.now() - Date.parse(e.at));
          },
          error: () => resolveDone(false),
          complete: () => resolveDone(true),
        },
      );
    });
  });
  await new Promise((r) => setTimeout(r, 1000)); // every subscription open before the job starts
  await submit();
  const outcomes = await Promise.all(done);
  const wallMs = Date.now() - started;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  const first = perSub[0] ?? [];
  return {
    label,
    subscribers: SUBSCRIBERS,
    complete: outcomes.filter(Boolean).length,
    eventsPerSubscriber: first.length,
    allEvents: perSub.every((s) => s.length === first.length && s.every((v, i) => v === i + 1)),
    p50: q(0.5),
    p95: q(0.95),
    max: latencies.at(-1) ?? NaN,
    wallMs,
  };
}

const [redisPort, s3Port, jobsPort, artifactsPort, workerPort, gatewayPort] = await Promise.all(
  Array.from({ length: 6 }, () => freePort()),
);
step('starting redis, s3, subgraphs, worker, gateway');
children.push(spawnRedisServer({ port: redisPort, dir: join(dataDir, 'redis') }));
children.push(spawnS3Server({ port: s3Port, dir: join(dataDir, 's3'), bucket: 'bench' }));
await Promise.all([waitForPort(redisPort), waitForPort(s3Port)]);
const env = {
  NODE_ENV: 'test',
  REDIS_URL: `redis://127.0.0.1:${redisPort}`,
  S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
  // s3rver knows one account (S3RVER)
  S3_ACCESS_KEY: 'S3RVER',
  S3_SECRET_KEY: 'S3RVER',
  S3_BUCKET: 'bench',
  SWITCHYARD_DATA_DIR: dataDir,
  SWITCHYARD_IDENTITY_SECRET: SECRET,
  JOBS_SUBGRAPH_PORT: String(jobsPort),
  ARTIFACTS_SUBGRAPH_PORT: String(artifactsPort),
  WORKER_HEALTH_PORT: String(workerPort),
  GATEWAY_PORT: String(gatewayPort),
  SWITCHYARD_TEST_TASKS: '1',
  WORKER_NVIDIA_SMI: '/nonexistent/nvidia-smi',
  WORKER_CPU_ACTORS: '1',
  MAX_SUBSCRIPTIONS_PER_KEY: String(SUBSCRIBERS * 2),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: String(SUBSCRIBERS),
  RATE_LIMIT_PER_MINUTE: '600000',
};
for (const [app, port] of [
  ['jobs-subgraph', jobsPort],
  ['artifacts-subgraph', artifactsPort],
  ['gpu-worker', workerPort],
  ['gateway', gatewayPort],
] as const)
  await waitReady(port, app, startApp(app, env));

const redis = new Redis(env.REDIS_URL);
const { key, record } = await new ApiKeyStore(redis).create({
  tenant: 'bench',
  scopes: ['jobs:read', 'jobs:write', 'artifacts:read'],
  name: 'bench',
});
const identity = { tenant: 'bench', keyId: record.id, scopes: record.scopes };

const submit = async (): Promise<string> => {
  const res = await fetch(`http://127.0.0.1:${gatewayPort}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({
      query: 'mutation($i: SubmitJobInput!) { submitJob(input: $i) { id } }',
      variables: { i: { graph: { nodes: [{ id: 's', task: 'test.sleep', inputs: { ms: JOB_MS } }] } } },
    }),
  });
  const body = (await res.json()) as { data?: { submitJob: { id: string } }; errors?: unknown };
  if (!body.data) throw new Error(`submit failed: ${JSON.stringify(body.errors)}`);
  return body.data.submitJob.id;
};

// A job id is needed before subscribing; submitting first and subscribing right away replays from seq 1,
// so both variants see the whole stream. The job sleeps, so all of its live events come after the subscribe.
const makeClients = (url: string, params: () => Record<string, unknown>) =>
  Array.from({ length: CONNECTIONS }, () =>
    createClient({ url, webSocketImpl: WebSocket, connectionParams: params, lazy: true, retryAttempts: 0 }),
  );

const QUERY_JOBS_ONLY = 'subscription($id: ID!) { jobEvents(jobId: $id) { seq type at job { status } } }';
const QUERY_BOTH =
  'subscription($id: ID!) { jobEvents(jobId: $id) { seq type at job { status artifacts { name } } } }';
const results: RunResult[] = [];

const direct = makeClients(`ws://127.0.0.1:${jobsPort}/graphql`, () => ({
  identity: signIdentity(identity, SECRET),
}));
step(`direct: ${SUBSCRIBERS} subscriptions on ${CONNECTIONS} sockets to the jobs subgraph`);
const jobA = await submit();
results.push(await run('jobs subgraph directly', direct, QUERY_JOBS_ONLY, jobA, async () => undefined));
await Promise.all(direct.map((c) => c.dispose()));

const viaGateway = makeClients(`ws://127.0.0.1:${gatewayPort}/graphql`, () => ({
  authorization: `Bearer ${key}`,
}));
step(`gateway: ${SUBSCRIBERS} subscriptions, same selection`);
const jobB = await submit();
results.push(await run('through the gateway', viaGateway, QUERY_JOBS_ONLY, jobB, async () => undefined));
step(`gateway: ${SUBSCRIBERS} subscriptions with a field of the artifacts subgraph per event`);
const jobC = await submit();
results.push(
  await run('through the gateway + artifacts', viaGateway, QUERY_BOTH, jobC, async () => undefined),
);
await Promise.all(viaGateway.map((c) => c.dispose()));
redis.disconnect();

console.log(
  `\ngateway subscription bench: ${SUBSCRIBERS} subscribers on ${CONNECTIONS} sockets, job of ${JOB_MS} ms, ${cpus().length} CPUs\n`,
);
console.log(
  'variant                          complete  events/sub  every event once  p50 ms  p95 ms  max ms',
);
for (const r of results)
  console.log(
    `${r.label.padEnd(32)} ${`${r.complete}/${r.subscribers}`.padStart(9)}  ${String(r.eventsPerSubscriber).padStart(10)}  ${String(r.allEvents).padStart(16)}  ${String(r.p50).padStart(6)}  ${String(r.p95).padStart(6)}  ${String(r.max).padStart(6)}`,
  );
const [d, g, gb] = results as [RunResult, RunResult, RunResult];
console.log(
  `\nratio gateway/direct: p50 ${(g.p50 / Math.max(1, d.p50)).toFixed(2)}, p95 ${(g.p95 / Math.max(1, d.p95)).toFixed(2)}; with the artifacts field: p50 ${(gb.p50 / Math.max(1, d.p50)).toFixed(2)}, p95 ${(gb.p95 / Math.max(1, d.p95)).toFixed(2)}`,
);
const ok = results.every((r) => r.complete === r.subscribers && r.allEvents && r.eventsPerSubscriber > 0);
console.log(
  ok ? 'every subscriber received every event exactly once' : 'FAILED: some subscriber missed events',
);
process.exit(ok ? 0 : 1);
