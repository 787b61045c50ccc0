/**
 * What a warm task runner adds per attempt (issue 12, target 5: ≤ 5 ms). The real gpu-worker process (one
 * CPU actor, its warm runner) runs no-op attempts (test.sleep {ms: 0}) leased from BullMQ, against, in the
 * same run and on the same redis-server:
 *   - the in-process peer: a process with a BullMQ Worker that does the worker's per-attempt protocol
 *     (payload parse, cancelled check, `started` + `succeeded` through the gpu-worker's own reporter, the
 *     same XADDs to {sy}:reports) and runs the no-op in process — no runner;
 *   - the bare IPC peer: a forked child answering a run-shaped message at once (the floor of any runner).
 * Each attempt is timed from its enqueue to its terminal report on {sy}:reports (what the scheduler sees).
 * Run: `npm run bench -- worker` (or `node dist/bench/worker-runner-overhead.js` after a build).
 */
import { fork } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, positiveInt } from '#libs/config';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { NODE_QUEUES } from '#libs/contracts';
import { BenchRedis } from './scheduler-support/bench-redis.js';
import { AttemptDriver, type RunResult } from './worker-support/attempt-driver.js';
import { median, percentile } from './support/stats.js';
import { IpcRoundTrip } from './worker-support/ipc-round-trip.js';
import { ReportWatcher } from './worker-support/report-watcher.js';
import { WorkerUnderTest } from './worker-support/worker-under-test.js';
import { fmt, ratio } from './support/stats.js';

process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
process.once('uncaughtException', (e) => {
  console.error(`worker bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});

const env = loadConfig({
  BENCH_ATTEMPTS: positiveInt(300),
  BENCH_FLOW_ATTEMPTS: positiveInt(1000),
  BENCH_WARMUP_ATTEMPTS: positiveInt(200),
  BENCH_ROUNDS: positiveInt(3),
  BENCH_INFLIGHT: positiveInt(4),
  BENCH_IPC_ROUND_TRIPS: positiveInt(2000),
  BENCH_JOB_TIMEOUT_MS: positiveInt(30_000),
});
const config = {
  attempts: env.BENCH_ATTEMPTS,
  flowAttempts: env.BENCH_FLOW_ATTEMPTS,
  warmup: env.BENCH_WARMUP_ATTEMPTS,
  rounds: env.BENCH_ROUNDS,
  inflight: env.BENCH_INFLIGHT,
  ipcRoundTrips: env.BENCH_IPC_ROUND_TRIPS,
  timeoutMs: env.BENCH_JOB_TIMEOUT_MS,
};
const step = (what: string) => console.error(`[worker bench] ${what}`);
const HERE = resolve(fileURLToPath(new URL('.', import.meta.url)));
const PEER_QUEUE = 'bench-worker-peer';

interface Round {
  flow: RunResult;
  unloaded: RunResult;
  commandsPerAttempt: number;
}
const runs = { peer: [] as Round[], ours: [] as Round[], ipc: [] as RunResult[], paired: [] as number[][] };
const problems: string[] = [];

const redis = await BenchRedis.start();
const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
const watcher = new ReportWatcher(redis.url);
await watcher.start();
let worker: WorkerUnderTest | undefined;
const peer = fork(join(HERE, 'worker-support/in-process-peer.js'), [redis.url, PEER_QUEUE], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  env: { ...process.env, NODE_OPTIONS: '' },
});
process.once('exit', () => peer.kill('SIGKILL'));
const ipc = await IpcRoundTrip.start();
try {
  await new Promise<void>((r) => peer.once('message', () => r()));
  step('starting the gpu-worker (one CPU actor, warm runner)');
  worker = await WorkerUnderTest.start(redis.url, {
    ...(process.env.BENCH_WORKER_NODE_ARGS
      ? { nodeArgs: process.env.BENCH_WORKER_NODE_ARGS.split(' ') }
      : {}),
  });
  const w = worker;
  const ours = new AttemptDriver(connection, NODE_QUEUES.cpu, watcher, config.timeoutMs);
  const bare = new AttemptDriver(connection, PEER_QUEUE, watcher, config.timeoutMs);
  const measure = async (driver: AttemptDriver, pids: () => number[]): Promise<Round> => {
    const before = await redis.snapshot();
    const flow = await driver.run(config.flowAttempts, config.inflight, pids);
    const after = await redis.snapshot();
    const unloaded = await driver.run(config.attempts, 1, pids);
    // the watcher's XREADs and the driver's adds are in both variants alike
    return { flow, unloaded, commandsPerAttempt: (after.commands - before.commands) / config.flowAttempts };
  };
  step(`warm-up: ${config.warmup} attempts each`);
  await bare.run(config.warmup, config.inflight, () => []);
  await ours.run(config.warmup, config.inflight, () => []);
  await ipc.run(config.warmup);
  for (let round = 1; round <= config.rounds; round++) {
    step(`round ${round}/${config.rounds}: in-process peer`);
    runs.peer.push(await measure(bare, () => [peer.pid!]));
    step(`round ${round}/${config.rounds}: gpu-worker + warm runner`);
    runs.ours.push(await measure(ours, () => w.pids()));
    // One attempt each, alternating: load from other processes hits both alike, so the difference of each
    // pair is what ours adds, with the machine's noise mostly cancelled.
    step(`round ${round}/${config.rounds}: paired single attempts (peer, ours, peer, ours…)`);
    const diffs: number[] = [];
    for (let i = 0; i < config.attempts; i++) diffs.push(-(await bare.one()) + (await ours.one()));
    runs.paired.push(diffs);
    step(`round ${round}/${config.rounds}: bare IPC round trips`);
    runs.ipc.push(await ipc.run(config.ipcRoundTrips));
  }
  await ours.close();
  await bare.close();
  problems.push(...watcher.problems, ...w.warnings().map((l) => `gpu-worker logged: ${l}`));
} finally {
  ipc.stop();
  peer.disconnect();
  await watcher.stop();
  await worker?.stop(!!process.env.BENCH_KEEP_LOG);
  if (process.env.BENCH_KEEP_LOG && worker) step(`gpu-worker log kept: ${worker.logFile}`);
  connection.disconnect();
  await redis.stop();
}

const stat = (rs: Round[], f: (r: Round) => number) => median(rs.map(f));
const p = (r: RunResult, q: number) => percentile(r.latenciesMs, q);
const cpuPer = (r: RunResult) => r.cpuMs / r.attempts;
/** The runner's share (the processes after the first); n/a for the peer, which has none. */
const runnerCpuPer = (r: Round) => {
  const rest = r.flow.cpuMsByProcess.slice(1);
  return rest.length ? rest.reduce((a, b) => a + b, 0) / r.flow.attempts : NaN;
};
const perS = (r: RunResult) => r.attempts / (r.elapsedMs / 1000);
const rows: Array<[string, (r: Round) => number, number]> = [
  ['unloaded latency p50, ms (enqueue → terminal report)', (r) => p(r.unloaded, 50), 2],
  ['unloaded latency p99, ms', (r) => p(r.unloaded, 99), 2],
  [`throughput, attempts/s (${config.inflight} queued, concurrency 1)`, (r) => perS(r.flow), 0],
  ['CPU per attempt, ms (worker + runner | peer process)', (r) => cpuPer(r.flow), 3],
  ['… of it in the gpu-worker process', (r) => (r.flow.cpuMsByProcess[0] ?? NaN) / r.flow.attempts, 3],
  ['… of it in the runner process', runnerCpuPer, 3],
  ['Redis commands per attempt (incl. the driver’s)', (r) => r.commandsPerAttempt, 1],
];
const require = createRequire(import.meta.url);
const bullmqVersion = (require('bullmq/package.json') as { version: string }).version;
const out: string[] = [
  `Warm runner overhead: gpu-worker vs in-process peer vs bare IPC — ${new Date().toISOString()}`,
  `machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 1024 ** 3).toFixed(1)} GiB, node ${process.version}, redis-server ${redis.version}, bullmq ${bullmqVersion}`,
  `per round: ${config.flowAttempts} attempts with ${config.inflight} queued, then ${config.attempts} one at a time; ${config.ipcRoundTrips} bare IPC round trips; ${config.warmup} warm-up attempts each; medians of ${config.rounds} rounds; CPU from /proc (10 ms ticks)`,
  '',
  '| metric | in-process peer (no runner) | gpu-worker + warm runner | ours/peer | added by ours |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...rows.map(([label, f, d]) => {
    const a = stat(runs.peer, f);
    const b = stat(runs.ours, f);
    return `| ${label} | ${fmt(a, d)} | ${fmt(b, d)} | ${ratio(b, a)} | ${fmt(b - a, d)} |`;
  }),
  '',
  '| bare IPC round trip (fork, run-shaped message → result) | value |',
  '| --- | ---: |',
  `| p50, ms | ${fmt(median(runs.ipc.map((r) => p(r, 50))), 3)} |`,
  `| p99, ms | ${fmt(median(runs.ipc.map((r) => p(r, 99))), 3)} |`,
  `| CPU per round trip (both ends), ms | ${fmt(median(runs.ipc.map(cpuPer)), 3)} |`,
  '',
  `warm runner adds per attempt (median of ${config.attempts} paired differences ours − peer, median over rounds): ${fmt(median(runs.paired.map((d) => percentile(d, 50))), 2)} ms (p90 of the differences: ${fmt(median(runs.paired.map((d) => percentile(d, 90))), 2)} ms); target ≤ 5 ms`,
  `per round: paired median ${runs.paired.map((d) => fmt(percentile(d, 50))).join(', ')} ms; CPU per attempt ours ${runs.ours.map((r) => fmt(cpuPer(r.flow), 3)).join(', ')} ms, peer ${runs.peer.map((r) => fmt(cpuPer(r.flow), 3)).join(', ')} ms`,
];
console.log(out.join('\n'));
if (problems.length) {
  console.error(`the run is invalid:\n${problems.slice(0, 20).join('\n')}`);
  process.exit(1);
}
process.exit(0);
