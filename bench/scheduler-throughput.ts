/**
 * Scheduling overhead of Switchyard against raw BullMQ, in the same run on the same redis-server, printed as
 * ratios (see bench/README.md). Run: `npm run bench -- scheduler` (or `node dist/bench/scheduler-throughput.js`
 * after a build). Sizes: BENCH_* env (scheduler-support/bench-config.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { loadSchedulerBenchConfig } from './scheduler-support/bench-config.js';
import { BenchRedis } from './scheduler-support/bench-redis.js';
import { DIAMOND_LEVELS, DIAMOND_NODES, diamondJob, singleNodeJob } from './scheduler-support/bench-tasks.js';
import { BullmqPeer } from './scheduler-support/bullmq-peer.js';
import {
  measureVariant,
  medianOf,
  type VariantPlan,
  type VariantResult,
} from './scheduler-support/measure.js';
import { renderTable } from './scheduler-support/report-table.js';
import { fileLogger, SwitchyardTarget } from './scheduler-support/switchyard-target.js';

// a signal ends the run through process.exit, so the 'exit' hooks stop redis-server and remove temp dirs
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const config = loadSchedulerBenchConfig();
const plan = (jobs: number, warmupJobs: number, round: number): VariantPlan => ({
  warmupJobs: round === 1 ? warmupJobs : 0,
  jobs,
  latencyJobs: config.BENCH_LATENCY_JOBS,
  inflight: config.BENCH_INFLIGHT,
});
const step = (what: string) => console.error(`[scheduler bench] ${what}`);

const logDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-log-'));
process.once('exit', () =>
  process.env.BENCH_KEEP_LOG
    ? console.error(`log kept: ${logDir}`)
    : rmSync(logDir, { recursive: true, force: true }),
);
const logPath = join(logDir, 'jobs-subgraph.log');

// A failed run stops at once, after the cleanup in the finally blocks: lanes still waiting on a job must not
// keep the process alive until their timeouts.
process.once('uncaughtException', (e) => {
  console.error(`scheduler bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});

const runs = { peer: [] as VariantResult[], single: [] as VariantResult[], diamond: [] as VariantResult[] };
const problems: string[] = [];
const redis = await BenchRedis.start();
try {
  // both stay up for the whole run (each idles on blocking reads while the other is measured), so the
  // rounds can alternate between them
  const bullmq = await BullmqPeer.start(redis.url, config.BENCH_CONCURRENCY, config.BENCH_JOB_TIMEOUT_MS);
  try {
    const ours = await SwitchyardTarget.start(
      redis.url,
      config.BENCH_CONCURRENCY,
      config.BENCH_JOB_TIMEOUT_MS,
      fileLogger(logPath),
    );
    try {
      for (let round = 1; round <= config.BENCH_ROUNDS; round++) {
        const of = `round ${round}/${config.BENCH_ROUNDS}`;
        const warmup = config.BENCH_WARMUP_JOBS;
        step(`${of}: raw BullMQ, ${config.BENCH_PEER_JOBS} jobs`);
        runs.peer.push(
          await measureVariant(
            bullmq.submit,
            bullmq.tracker,
            redis,
            plan(config.BENCH_PEER_JOBS, warmup, round),
          ),
        );
        step(`${of}: Switchyard, ${config.BENCH_JOBS} single-node jobs`);
        runs.single.push(
          await measureVariant(
            ours.submitter(singleNodeJob),
            ours.tracker,
            redis,
            plan(config.BENCH_JOBS, warmup, round),
          ),
        );
        step(`${of}: Switchyard, ${config.diamondJobs} diamond jobs`);
        runs.diamond.push(
          await measureVariant(
            ours.submitter(diamondJob),
            ours.tracker,
            redis,
            plan(config.diamondJobs, config.diamondWarmupJobs, round),
          ),
        );
      }
      // read before stop(): closing connections logs warnings that are not the run's
      problems.push(
        ...ours.workerProblems.map((p) => `gpu-worker stand-in: ${p}`),
        ...loggedProblems(logPath),
      );
    } finally {
      await ours.stop();
    }
  } finally {
    await bullmq.stop();
  }
} finally {
  await redis.stop();
}

const perRound = (variant: VariantResult[]) =>
  variant.map((r, i) => `${(r.jobsPerSecond / runs.peer[i]!.jobsPerSecond).toPrecision(2)}×`).join(', ');
const bullmqVersion = (createRequire(import.meta.url)('bullmq/package.json') as { version: string }).version;
console.log(
  [
    `Scheduler overhead: Switchyard vs raw BullMQ — ${new Date().toISOString()}`,
    `machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
      `node ${process.version}, redis-server ${redis.version}, bullmq ${bullmqVersion}`,
    `per round: ${config.BENCH_PEER_JOBS} peer / ${config.BENCH_JOBS} 1-node / ${config.diamondJobs} diamond jobs with ` +
      `${config.BENCH_INFLIGHT} in flight, then ${config.BENCH_LATENCY_JOBS} of each one at a time; ` +
      `worker concurrency ${config.BENCH_CONCURRENCY}; ${config.BENCH_WARMUP_JOBS} warm-up jobs (diamond: ` +
      `${config.diamondWarmupJobs}) before round 1; medians of ${config.BENCH_ROUNDS} rounds`,
    '',
    renderTable({
      peer: medianOf(runs.peer),
      single: medianOf(runs.single),
      diamond: medianOf(runs.diamond),
      diamondNodes: DIAMOND_NODES,
      diamondLevels: DIAMOND_LEVELS,
    }),
    '',
    `throughput ours/peer per round: 1-node ${perRound(runs.single)}; diamond (jobs) ${perRound(runs.diamond)}`,
  ].join('\n'),
);
if (problems.length > 0) {
  console.error(
    `INVALID RUN: ${problems.length} problem(s) during the run:\n  ${problems.slice(0, 10).join('\n  ')}`,
  );
  process.exitCode = 1;
}

/** Warn/error lines the jobs subgraph logged: a valid run has none. */
function loggedProblems(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((l) => l.level >= 40)
    .map((l) => `jobs-subgraph logged (level ${l.level}): ${l.msg}`);
}
