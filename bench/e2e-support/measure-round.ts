import { readFileSync } from 'node:fs';
import {
  cpuDelta,
  sampleProcessDetail,
  sampleProcessTrees,
  type ProcessDetail,
} from '../support/process-cpu.js';
import { commandsPerJob, type RedisCounterReader } from './redis-counters.js';
import { percentile } from '../support/stats.js';
import { closedLoop, pacedStartLatency, submitRate } from './phases.js';
import type { CompletionTracker } from '../support/completion-tracker.js';

/** What one round of one variant measured (each becomes a median over the rounds). */
export interface RoundResult {
  jobsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Jobs accepted per second by back-to-back submit calls (not waiting for them to run). */
  submitJobsPerSecond: number;
  submitCallsPerSecond: number;
  /** Open loop: those back-to-back jobs per second, from the first submit to the last seen done. */
  openLoopJobsPerSecond: number;
  startP50Ms: number;
  startP99Ms: number;
  /** CPU ms per job, per process (tree) name, over the end-to-end run. */
  cpuMsPerJob: Record<string, number>;
  commandsPerJob: number;
  topCommands: string;
  redisBytesPerJob: number;
  /** Mean attempts per node-queue job the fair stage handed over during the run (leases); null: not read. */
  attemptsPerQueueJob: number | null;
  /** The end-to-end run on the monotonic clock (µs, as in .cpuprofile files), to cut profiles to it. */
  loadWindowUs: [number, number];
  /** Per job, each root process itself (not its tree): user/system ms, loop sleeps and preemptions. */
  detailPerJob: Record<string, ProcessDetail>;
}

export interface VariantDriver {
  /** Submits jobs first…first+count-1 in one call when count > 1 (submitJobs), else one submit. */
  submit(first: number, count: number): Promise<string[]>;
  tracker: CompletionTracker;
  /** Epoch ms at which each job's node started (for the paced latency); null: not measured. */
  startedAt: Map<string, number> | null;
  /** Process trees whose CPU counts for this variant, by name, read at the start of each round. */
  processes(): Record<string, number>;
  /** CPU ms this process (the benchmark) used so far, when it counts for the variant (the peer). */
  ownCpuMs?: () => number;
  /** Attempts and node-queue jobs handed over so far (the jobs subgraph's lease histogram), when there is one. */
  dispatchTotals?: () => Promise<{ attempts: number; queueJobs: number }>;
}

export interface RoundPlan {
  warmupJobs: number;
  jobs: number;
  lanes: number;
  perCall: number;
  submitJobs: number;
  submitCallers: number;
  pacedJobs: number;
  pacedRate: number;
}

/** End to end under load (CPU, Redis counters around it), then submit rate, then the paced start latency. */
export async function measureRound(
  driver: VariantDriver,
  redis: RedisCounterReader,
  plan: RoundPlan,
): Promise<RoundResult> {
  if (plan.warmupJobs > 0)
    await closedLoop(driver.submit, driver.tracker, plan.warmupJobs, plan.lanes, plan.perCall);
  const pids = driver.processes();
  const redisBefore = await redis.read();
  const dispatchBefore = await driver.dispatchTotals?.();
  const cpuBefore = { ...sampleProcessTrees(pids), ...(driver.ownCpuMs ? { self: driver.ownCpuMs() } : {}) };
  const detailBefore = sampleProcessDetail(pids);
  const loadStartUs = monotonicUs();
  const load = await closedLoop(driver.submit, driver.tracker, plan.jobs, plan.lanes, plan.perCall);
  const loadEndUs = monotonicUs();
  const detailAfter = sampleProcessDetail(pids);
  const cpuAfter = { ...sampleProcessTrees(pids), ...(driver.ownCpuMs ? { self: driver.ownCpuMs() } : {}) };
  const redisAfter = await redis.read();
  const dispatchAfter = await driver.dispatchTotals?.();
  const cpu = cpuDelta(cpuBefore, cpuAfter);
  const commands = commandsPerJob(redisBefore, redisAfter, plan.jobs);

  const rate = await submitRate(
    driver.submit,
    driver.tracker,
    plan.submitJobs,
    plan.submitCallers,
    plan.perCall,
  );
  let starts: number[] = [];
  if (driver.startedAt && plan.pacedJobs > 0) {
    driver.startedAt.clear();
    const one = async (i: number) => (await driver.submit(i, 1))[0]!;
    starts = await pacedStartLatency(one, driver.tracker, driver.startedAt, plan.pacedJobs, plan.pacedRate);
    driver.startedAt.clear();
  }
  return {
    jobsPerSecond: load.jobs / (load.elapsedMs / 1000),
    latencyP50Ms: percentile(load.latenciesMs, 50),
    latencyP99Ms: percentile(load.latenciesMs, 99),
    submitJobsPerSecond: rate.jobsPerSecond,
    submitCallsPerSecond: rate.callsPerSecond,
    openLoopJobsPerSecond: rate.doneJobsPerSecond,
    startP50Ms: percentile(starts, 50),
    startP99Ms: percentile(starts, 99),
    cpuMsPerJob: Object.fromEntries(Object.entries(cpu).map(([k, ms]) => [k, ms / plan.jobs])),
    commandsPerJob: commands.perJob,
    topCommands: commands.top,
    redisBytesPerJob: (redisAfter.usedMemory - redisBefore.usedMemory) / plan.jobs,
    attemptsPerQueueJob:
      dispatchBefore && dispatchAfter && dispatchAfter.queueJobs > dispatchBefore.queueJobs
        ? (dispatchAfter.attempts - dispatchBefore.attempts) /
          (dispatchAfter.queueJobs - dispatchBefore.queueJobs)
        : null,
    loadWindowUs: [loadStartUs, loadEndUs],
    detailPerJob: detailDelta(detailBefore, detailAfter, plan.jobs),
  };
}

function detailDelta(
  before: Record<string, ProcessDetail>,
  after: Record<string, ProcessDetail>,
  jobs: number,
): Record<string, ProcessDetail> {
  const out: Record<string, ProcessDetail> = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name];
    if (!b) continue;
    out[name] = {
      userMs: (a.userMs - b.userMs) / jobs,
      sysMs: (a.sysMs - b.sysMs) / jobs,
      loopSleeps: (a.loopSleeps - b.loopSleeps) / jobs,
      loopPreempted: (a.loopPreempted - b.loopPreempted) / jobs,
      otherThreadSleeps: (a.otherThreadSleeps - b.otherThreadSleeps) / jobs,
    };
  }
  return out;
}

/** CLOCK_MONOTONIC in µs: the clock V8 stamps profile samples with, the same in every process. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Warn (40) and error (50+) lines in the apps' JSON logs: a valid run logs no error. */
export function loggedProblems(logFiles: Record<string, string>): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const [app, path] of Object.entries(logFiles)) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue; // an app that never logged
    }
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      let entry: { level?: number; msg?: string };
      try {
        entry = JSON.parse(line) as { level?: number; msg?: string };
      } catch {
        continue;
      }
      if ((entry.level ?? 0) >= 50) errors.push(`${app}: ${entry.msg ?? line.slice(0, 200)}`);
      else if ((entry.level ?? 0) >= 40) warnings.push(`${app}: ${entry.msg ?? line.slice(0, 200)}`);
    }
  }
  return { errors, warnings };
}
