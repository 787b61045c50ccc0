/**
 * The gateway's own cost per request: a small read (`job(id)`) and the `submitJob` mutation through our
 * gateway and through a plain @apollo/gateway (gateway-support/plain-gateway.ts: the same supergraph file, no
 * auth, no limits) over the same subgraphs of one stack started as `npm start` does, in the same run, rounds
 * rotating which side goes first. The floor: another plain @apollo/gateway over a constant jobs subgraph
 * (gateway-support/constant-subgraph.ts: the jobs SDL, constant answers), what one federated request costs
 * the stack before any work of ours. Prints req/s, CPU ms per request of each gateway process and of the jobs
 * subgraph behind it, latency, and ratios. Exits 1 when any request fails or our gateway logs a warning.
 * Run after a build: `node dist/bench/gateway-overhead.js`; sizes: BENCH_DURATION_MS, BENCH_WARMUP_MS,
 * BENCH_CONCURRENCY, BENCH_ROUNDS. BENCH_CPU_PROF=<dir> writes CPU profiles of the gateways and subgraphs
 * measured (after the warm-up) into <dir>.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadConfig, positiveInt } from '#libs/config';
import { freePort } from '#libs/local-stack';
import { runClosedLoop, type GraphQLCall } from './gateway-support/http-load.js';
import { GraphqlHttp } from './support/graphql-http.js';
import { ratio } from './support/stats.js';
import {
  medianSide,
  renderOverheadTable,
  sideResult,
  type SideResult,
} from './gateway-support/overhead-report.js';
import { processCpuMs } from './support/process-cpu.js';
import { launchStack, NO_LIMITS_TEST_TASKS_ENV, type LaunchedStack } from './stack-support/launched-stack.js';

process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const config = loadConfig({
  BENCH_DURATION_MS: positiveInt(10_000),
  BENCH_WARMUP_MS: positiveInt(3_000),
  BENCH_CONCURRENCY: positiveInt(32),
  BENCH_ROUNDS: positiveInt(3),
  BENCH_CPU_PROF: z.string().optional(),
});
/**
 * ours: our gateway over our subgraphs; peer: a plain @apollo/gateway over them; floor: a plain @apollo/gateway
 * over a constant jobs subgraph (what one federated request costs before any work of ours).
 */
type Side = 'floor' | 'peer' | 'ours';
const SIDES: readonly Side[] = ['floor', 'peer', 'ours'];
const step = (what: string) => console.error(`[gateway-overhead] ${what}`);

const SMALL_READ = 'query SmallRead($id: ID!) { job(id: $id) { id status createdAt } }';
const SUBMIT =
  'mutation Submit($input: SubmitJobInput!) { submitJob(input: $input) { id status createdAt } }';
const noopJob = (i: number) => ({
  input: { graph: { nodes: [{ id: 'only', task: 'test.sleep', inputs: { ms: 0 } }] }, labels: { i } },
});

/** Starts one of gateway-support's child servers; resolves with the URL it prints once listening. */
async function startChild(script: string, args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist/bench/gateway-support', script), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...profileEnv, SWITCHYARD_IDENTITY_SECRET: secret, PLAIN_TENANT: 'dev' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => child.exitCode === null && child.kill('SIGKILL'));
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\S+)/.exec(out);
      if (m) res(m[1]!);
    });
    child.once('exit', (code) => rej(new Error(`${script} exited with ${code}`)));
  });
  return { url, child };
}

/** A plain @apollo/gateway over the supergraph file, its `jobs` subgraph at `jobsUrl`. */
async function startPlainGateway(jobsUrl: string, artifactsUrl: string) {
  const supergraph = join(ROOT, 'graphql/supergraph.graphql');
  return startChild('plain-gateway.js', [String(await freePort()), supergraph, jobsUrl, artifactsUrl]);
}

/** Warnings and errors our gateway logged during the run (a run with any does not count). */
function gatewayProblems(stack: LaunchedStack): string[] {
  const path = join(stack.dataDir, 'logs', 'gateway.log');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => /"level":(40|50|60)/.test(l))
    .slice(0, 5);
}

// Node 20 refuses --cpu-prof in NODE_OPTIONS: a preload profiles both gateways and the jobs subgraph,
// from the SIGUSR2 sent after the warm-up to their exit.
const profileEnv: Record<string, string> = config.BENCH_CPU_PROF
  ? {
      NODE_OPTIONS: `--import=${join(ROOT, 'dist/bench/gateway-support/cpu-profile-preload.js')}`,
      BENCH_CPU_PROF_DIR: resolve(config.BENCH_CPU_PROF),
      BENCH_CPU_PROF_APPS: 'apps/gateway/,apps/jobs-subgraph/,plain-gateway,constant-subgraph',
    }
  : {};
const secret = randomBytes(24).toString('hex');
step('starting the stack (npm start) …');
const stack = await launchStack({
  SWITCHYARD_IDENTITY_SECRET: secret,
  // the benchmark measures cost per request, not the limits: a key and tenant that never hit them
  ...NO_LIMITS_TEST_TASKS_ENV,
  ...profileEnv,
});
let exitCode = 0;
const children: ChildProcess[] = [];
try {
  const artifactsUrl = `http://127.0.0.1:${stack.ports.artifacts}/graphql`;
  const plain = await startPlainGateway(`http://127.0.0.1:${stack.ports.jobs}/graphql`, artifactsUrl);
  const constant = await startChild('constant-subgraph.js', [
    String(await freePort()),
    join(ROOT, 'graphql/jobs.graphql'),
  ]);
  const floor = await startPlainGateway(constant.url, artifactsUrl);
  children.push(plain.child, constant.child, floor.child);
  const pids = stack.pids();
  const gatewayPid: Record<Side, number> = {
    ours: pids.gateway!,
    peer: plain.child.pid!,
    floor: floor.child.pid!,
  };
  const jobsPid: Record<Side, number> = {
    ours: pids['jobs-subgraph']!,
    peer: pids['jobs-subgraph']!,
    floor: constant.child.pid!,
  };
  const sockets = config.BENCH_CONCURRENCY;
  const clients: Record<Side, GraphqlHttp> = {
    ours: new GraphqlHttp(stack.url, {}, sockets),
    peer: new GraphqlHttp(plain.url, {}, sockets),
    floor: new GraphqlHttp(floor.url, {}, sockets),
  };
  const auth: Record<Side, Record<string, string>> = {
    ours: { authorization: `Bearer ${stack.key}` },
    peer: {},
    floor: {},
  };

  const seeded = await clients.ours.data(SUBMIT, noopJob(-1), auth.ours);
  const jobId = (seeded.submitJob as { id: string }).id;
  const ops: Array<{ label: string; call: (side: Side) => GraphQLCall }> = [
    {
      label: 'small query `job(id)`',
      call: (side) => ({ query: SMALL_READ, variables: () => ({ id: jobId }), headers: auth[side] }),
    },
    {
      label: '`submitJob` (1 node)',
      call: (side) => ({ query: SUBMIT, variables: noopJob, headers: auth[side] }),
    },
  ];

  const measure = async (side: Side, op: (typeof ops)[number], ms: number): Promise<SideResult> => {
    const g0 = processCpuMs(gatewayPid[side]);
    const j0 = processCpuMs(jobsPid[side]);
    const run = await runClosedLoop(clients[side], op.call(side), config.BENCH_CONCURRENCY, ms);
    return sideResult(run, processCpuMs(gatewayPid[side]) - g0, processCpuMs(jobsPid[side]) - j0);
  };

  step(`warm-up: ${config.BENCH_WARMUP_MS} ms per operation and gateway`);
  for (const op of ops) for (const side of SIDES) await measure(side, op, config.BENCH_WARMUP_MS);

  if (config.BENCH_CPU_PROF)
    for (const pid of new Set([...Object.values(gatewayPid), ...Object.values(jobsPid)]))
      process.kill(pid, 'SIGUSR2');
  const results = ops.map(() => ({ floor: [], peer: [], ours: [] }) as Record<Side, SideResult[]>);
  for (let round = 1; round <= config.BENCH_ROUNDS; round++) {
    // the sides take turns going first
    const order = SIDES.map((_, i) => SIDES[(i + round - 1) % SIDES.length]!);
    for (const [i, op] of ops.entries())
      for (const side of order) {
        const r = await measure(side, op, config.BENCH_DURATION_MS);
        results[i]![side].push(r);
        step(
          `round ${round} ${op.label} ${side}: ${r.requestsPerSecond.toFixed(0)} req/s, gateway ${r.gatewayCpuMsPerRequest.toFixed(3)} ms CPU/request`,
        );
      }
  }
  for (const c of Object.values(clients)) c.close();

  const problems = gatewayProblems(stack);
  const versions = (name: string) =>
    (
      JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  console.log(`Gateway overhead: Switchyard gateway vs plain @apollo/gateway — ${new Date().toISOString()}`);
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, @apollo/gateway ${versions('@apollo/gateway')}, @apollo/server ${versions('@apollo/server')}`,
  );
  console.log(
    `per round and side: ${config.BENCH_DURATION_MS} ms closed loop with ${config.BENCH_CONCURRENCY} concurrent callers (keep-alive); ${config.BENCH_WARMUP_MS} ms warm-up each before round 1; medians of ${config.BENCH_ROUNDS} rounds; CPU = user + system of the gateway process (/proc, 10 ms ticks)`,
  );
  console.log('');
  console.log(
    renderOverheadTable(
      ops.map((op, i) => ({
        label: op.label,
        floor: medianSide(results[i]!.floor),
        peer: medianSide(results[i]!.peer),
        ours: medianSide(results[i]!.ours),
      })),
    ),
  );
  console.log('');
  for (const [i, op] of ops.entries())
    console.log(
      `${op.label} per round, req/s ours/peer: ${results[i]!.ours.map((o, r) => ratio(o.requestsPerSecond, results[i]!.peer[r]!.requestsPerSecond)).join(', ')}; gateway CPU/request ours/peer: ${results[i]!.ours.map((o, r) => ratio(o.gatewayCpuMsPerRequest, results[i]!.peer[r]!.gatewayCpuMsPerRequest)).join(', ')}`,
    );
  if (problems.length) {
    console.error(`our gateway logged warnings or errors: the run does not count:\n${problems.join('\n')}`);
    exitCode = 1;
  }
} catch (e) {
  console.error(`gateway-overhead failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  exitCode = 1;
} finally {
  await Promise.all(
    children.map((child) => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      return exited;
    }),
  );
  await stack.stop();
}
process.exit(exitCode);
