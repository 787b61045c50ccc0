/**
 * One-node no-op jobs end to end through the gateway only, with the stack exactly as `npm start` runs it
 * (bench/stack-support/launched-stack.ts), against raw BullMQ on the same redis-server in the same run,
 * printed as ratios (see bench/README.md, "e2e-throughput"). Run: `npm run bench -- e2e` or, after a build,
 * `node dist/bench/e2e-throughput.js [--cpu-prof]`. Sizes: BENCH_* env (e2e-support/e2e-config.ts).
 * --cpu-prof: every app runs under the V8 CPU profiler (a preload in NODE_OPTIONS, which reaches them through
 * the launcher: Node refuses --cpu-prof itself there); after
 * the run the top self-time functions of each process during the end-to-end runs are printed (one round).
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { launchStack, type LaunchedStack } from './stack-support/launched-stack.js';
import { BullmqE2ePeer } from './e2e-support/bullmq-peer.js';
import { summarizeProfiles, renderProfiles } from './e2e-support/cpu-profile-summary.js';
import { backToBackJobs, e2eStackEnv, loadE2eBenchConfig } from './e2e-support/e2e-config.js';
import { medianRound, OUR_PROCESSES, renderE2eTable } from './e2e-support/e2e-table.js';
import { GatewayClient } from './e2e-support/gateway-client.js';
import { JobFeed } from './e2e-support/job-feed.js';
import {
  loggedProblems,
  measureRound,
  type RoundPlan,
  type RoundResult,
  type VariantDriver,
} from './e2e-support/measure-round.js';
import { namesOfProcessTrees } from './support/process-cpu.js';
import { RedisCounterReader } from './e2e-support/redis-counters.js';
import { readDispatchTotals } from './e2e-support/dispatch-totals.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
process.once('uncaughtException', (e) => {
  console.error(`e2e bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});

const config = loadE2eBenchConfig();
const profiling = process.argv.includes('--cpu-prof');
const rounds = profiling ? 1 : config.BENCH_ROUNDS;
const backToBack = backToBackJobs(config);
const profileDir = profiling ? profilesDir(config.BENCH_CPU_PROF_DIR) : null;
/** BENCH_CPU_PROF_DIR (made when missing: the apps' profilers do not create it), else a temp dir. */
function profilesDir(given: string | undefined): string {
  if (given === undefined) return mkdtempSync(join(tmpdir(), 'switchyard-e2e-prof-'));
  mkdirSync(given, { recursive: true });
  return given;
}
const PROFILER_PRELOAD = new URL('./e2e-support/cpu-prof-preload.js', import.meta.url).href;
const step = (what: string) => console.error(`[e2e bench] ${what}`);

const stackEnv: Record<string, string> = {
  ...e2eStackEnv(config.BENCH_WORKER_ACTORS),
  // Node refuses --cpu-prof in NODE_OPTIONS: a preload starts the same profiler in every Node process
  ...(profileDir
    ? {
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${PROFILER_PRELOAD}`.trim(),
        E2E_CPU_PROF_DIR: profileDir,
      }
    : {}),
};

step(
  `starting the stack (npm start) with ${config.BENCH_WORKER_ACTORS} CPU actors${profiling ? `, profiling into ${profileDir}` : ''}`,
);
const stack: LaunchedStack = await launchStack(stackEnv);
const runs = { peer: [] as RoundResult[], single: [] as RoundResult[], batch: [] as RoundResult[] };
const problems: string[] = [];
// filled in by the run; read after the stack is stopped
const found = {
  warnings: [] as string[],
  processNames: new Map<number, string>(),
  batchOn: false,
  redisVersion: 'unknown',
};
try {
  const pids = stack.pids();
  const launcherPid = parentPid(pids.gateway!);
  const ourTrees = () => ({ ...pick(stack.pids(), OUR_PROCESSES), launcher: launcherPid });
  step(`up in ${(stack.readyMs / 1000).toFixed(1)} s; pids ${JSON.stringify(ourTrees())}`);
  const redis = await RedisCounterReader.connect(stack.redisUrl);
  found.redisVersion = redis.version;
  const client = new GatewayClient(stack.url, stack.key, config.BENCH_CALLERS + 8);
  const feed = await JobFeed.open(stack.wsUrl, stack.key, config.BENCH_JOB_TIMEOUT_MS);
  const peer = await BullmqE2ePeer.start(
    stack.redisUrl,
    config.BENCH_PEER_CONCURRENCY,
    config.BENCH_JOB_TIMEOUT_MS,
  );
  try {
    await feedCatchesJobs(client, feed);
    found.batchOn = config.BENCH_BATCH_JOBS > 0 && (await client.hasSubmitJobs());
    if (config.BENCH_BATCH_JOBS > 0 && !found.batchOn)
      step('the gateway has no submitJobs: the batch column is skipped');

    const peerDriver: VariantDriver = {
      submit: async (first) => [await peer.submit(first)],
      tracker: peer.tracker,
      startedAt: peer.startedAt,
      processes: () => pick(stack.pids(), ['redis']),
      ownCpuMs: () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      },
    };
    const ours = (perCall: number): VariantDriver => ({
      submit: async (first, count) =>
        count === 1 && perCall === 1 ? [await client.submitJob(first)] : client.submitJobs(first, count),
      tracker: feed.tracker,
      startedAt: perCall === 1 ? feed.startedAt : null,
      processes: ourTrees,
      dispatchTotals: () => readDispatchTotals(`http://127.0.0.1:${stack.ports.jobs}/metrics`),
    });
    const common = {
      pacedRate: config.BENCH_PACED_RATE,
      submitJobs: backToBack,
    };
    for (let round = 1; round <= rounds; round++) {
      const of = `round ${round}/${rounds}`;
      const warmupJobs = round === 1 ? config.BENCH_WARMUP_JOBS : 0;
      if (!profiling) {
        step(`${of}: raw BullMQ, ${config.BENCH_PEER_JOBS} jobs`);
        runs.peer.push(
          await measureRound(peerDriver, redis, {
            ...common,
            warmupJobs,
            jobs: config.BENCH_PEER_JOBS,
            lanes: config.BENCH_CALLERS,
            perCall: 1,
            submitJobs: backToBack,
            submitCallers: config.BENCH_CALLERS,
            pacedJobs: config.BENCH_PACED_JOBS,
          } satisfies RoundPlan),
        );
      }
      step(`${of}: Switchyard submitJob, ${config.BENCH_JOBS} jobs, ${config.BENCH_CALLERS} callers`);
      runs.single.push(
        await measureRound(ours(1), redis, {
          ...common,
          warmupJobs,
          jobs: config.BENCH_JOBS,
          lanes: config.BENCH_CALLERS,
          perCall: 1,
          submitCallers: config.BENCH_CALLERS,
          pacedJobs: config.BENCH_PACED_JOBS,
        }),
      );
      if (found.batchOn) {
        step(
          `${of}: Switchyard submitJobs, ${config.BENCH_BATCH_JOBS} jobs in batches of ${config.BENCH_BATCH_SIZE}`,
        );
        runs.batch.push(
          await measureRound(ours(config.BENCH_BATCH_SIZE), redis, {
            ...common,
            warmupJobs: round === 1 ? Math.min(config.BENCH_WARMUP_JOBS, config.BENCH_BATCH_SIZE * 2) : 0,
            jobs: config.BENCH_BATCH_JOBS,
            lanes: config.BENCH_BATCH_CALLERS,
            perCall: config.BENCH_BATCH_SIZE,
            submitJobs: backToBack,
            submitCallers: config.BENCH_BATCH_CALLERS,
            pacedJobs: 0,
          }),
        );
      }
      // progress, so that a run that fails later still shows what it measured
      const last = (r: RoundResult[]) => (r.at(-1) ? `${r.at(-1)!.jobsPerSecond.toFixed(0)} jobs/s` : 'n/a');
      step(
        `${of} done: peer ${last(runs.peer)}, submitJob ${last(runs.single)}, submitJobs ${last(runs.batch)}`,
      );
    }
    if (feed.broken) problems.push(feed.broken);
    if (feed.tracker.unclaimed() > 0)
      problems.push(`${feed.tracker.unclaimed()} jobs done that nobody submitted`);
    found.processNames = namesOfProcessTrees(ourTrees());
    const logged = loggedProblems(
      Object.fromEntries(OUR_PROCESSES.map((n) => [n, join(stack.dataDir, 'logs', `${n}.log`)])),
    );
    problems.push(...logged.errors.map((e) => `logged an error: ${e}`));
    found.warnings = logged.warnings;
  } finally {
    await peer.stop().catch((e: Error) => problems.push(`peer stop: ${e.message}`));
    await feed.close();
    client.close();
    await redis.close();
  }
} finally {
  step('stopping the stack');
  await stack.stop();
}

const bullmqVersion = (createRequire(import.meta.url)('bullmq/package.json') as { version: string }).version;
const single = medianRound(runs.single);
const batch = runs.batch.length > 0 ? medianRound(runs.batch) : null;
const lines = [
  `End to end through the gateway: Switchyard vs raw BullMQ — ${new Date().toISOString()}`,
  `machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
    `node ${process.version}, redis-server ${found.redisVersion}, bullmq ${bullmqVersion}; stack up in ${(stack.readyMs / 1000).toFixed(1)} s`,
  `per round: ${config.BENCH_PEER_JOBS} peer / ${config.BENCH_JOBS} submitJob / ${found.batchOn ? config.BENCH_BATCH_JOBS : 0} submitJobs jobs; ` +
    `${config.BENCH_CALLERS} callers (batches: ${config.BENCH_BATCH_CALLERS}); gpu-worker ${config.BENCH_WORKER_ACTORS} CPU actors, ` +
    `peer concurrency ${config.BENCH_PEER_CONCURRENCY}; ${backToBack} jobs submitted back to back; ` +
    `${config.BENCH_PACED_JOBS} paced jobs; ${config.BENCH_WARMUP_JOBS} warm-up jobs; medians of ${rounds} rounds`,
  '',
];
if (profiling) {
  lines.push('(profiled run: every app under --cpu-prof, no peer; the speed numbers are not comparable)', '');
  lines.push(renderE2eTable(single, single, batch, tableLabels()));
  for (const [label, r] of [
    ['submitJob', single],
    ['submitJobs', batch],
  ] as const) {
    if (!r) continue;
    const summaries = summarizeProfiles(profileDir!, ROOT, r.loadWindowUs);
    lines.push('', `### Top self time per process during the ${label} end-to-end run`, '');
    lines.push(renderProfiles(summaries, found.processNames, r.cpuMsPerJob));
  }
  lines.push('', `profiles: ${profileDir}`);
} else {
  const peer = medianRound(runs.peer);
  lines.push(renderE2eTable(peer, single, batch, tableLabels()));
  const perRound = (variant: RoundResult[], pick: (r: RoundResult) => number) =>
    variant.map((r, i) => `${(pick(r) / pick(runs.peer[i]!)).toPrecision(2)}×`).join(', ');
  for (const [what, pick] of [
    ['end to end', (r: RoundResult) => r.jobsPerSecond],
    ['open loop', (r: RoundResult) => r.openLoopJobsPerSecond],
  ] as const)
    lines.push(
      '',
      `${what} ours/peer per round: submitJob ${perRound(runs.single, pick)}${batch ? `; submitJobs ${perRound(runs.batch, pick)}` : ''}`,
    );
  lines.push(`Redis commands per job, top (last round): peer: ${peer.topCommands}`);
}
lines.push(`Redis commands per job, top (last round): submitJob: ${single.topCommands}`);
if (config.BENCH_CPU_DETAIL) lines.push(...cpuDetailLines());
if (batch) lines.push(`Redis commands per job, top (last round): submitJobs: ${batch.topCommands}`);
const leaseSize = (r: RoundResult) =>
  r.attemptsPerQueueJob === null ? 'n/a' : r.attemptsPerQueueJob.toFixed(1);
lines.push(
  `Attempts per node-queue job (leases, decision 0007): submitJob ${leaseSize(single)}${batch ? `, submitJobs ${leaseSize(batch)}` : ''}`,
);
console.log(lines.join('\n'));
if (found.warnings.length > 0)
  console.error(
    `the apps logged ${found.warnings.length} warning(s), e.g.:\n  ${found.warnings.slice(0, 5).join('\n  ')}`,
  );
if (problems.length > 0) {
  console.error(`INVALID RUN: ${problems.length} problem(s):\n  ${problems.slice(0, 10).join('\n  ')}`);
  process.exitCode = 1;
}
process.exit();

/** BENCH_CPU_DETAIL: per variant and round, each process's user / sys ms, loop sleeps and preemptions per job. */
function cpuDetailLines(): string[] {
  const out = [
    '',
    "per job (process itself): user ms / sys ms / loop sleeps / loop preemptions / other threads' sleeps",
  ];
  for (const [label, list] of [
    ['submitJob', runs.single],
    ['submitJobs', runs.batch],
  ] as const)
    list.forEach((r, i) => {
      const cells = Object.entries(r.detailPerJob).map(
        ([name, d]) =>
          `${name} ${d.userMs.toFixed(2)}/${d.sysMs.toFixed(2)}/${d.loopSleeps.toFixed(1)}/${d.loopPreempted.toFixed(1)}/${d.otherThreadSleeps.toFixed(1)}`,
      );
      out.push(`${label} round ${i + 1}: ${cells.join('; ')}`);
    });
  return out;
}

function tableLabels() {
  return {
    callers: config.BENCH_CALLERS,
    peerConcurrency: config.BENCH_PEER_CONCURRENCY,
    batchSize: config.BENCH_BATCH_SIZE,
    batchCallers: config.BENCH_BATCH_CALLERS,
    pacedRate: config.BENCH_PACED_RATE,
  };
}

function pick(all: Record<string, number>, names: readonly string[]): Record<string, number> {
  return Object.fromEntries(names.filter((n) => all[n] !== undefined).map((n) => [n, all[n]!]));
}

function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * The feed only delivers what happens after the gateway has opened its upstream subscription, which the
 * client cannot observe: probe jobs are submitted until one is seen done, so no measured job can be missed.
 */
async function feedCatchesJobs(client: GatewayClient, feed: JobFeed): Promise<void> {
  for (let attempt = 1; attempt <= 20; attempt++) {
    const id = await client.submitJob(-attempt);
    const seen = await Promise.race([
      feed.tracker.wait(id).then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3_000)),
    ]);
    if (seen) return;
  }
  throw new Error('jobFeed delivered none of 20 probe jobs within 3 s each');
}
