import type { BenchRedis } from './bench-redis.js';
import { RedisBreakdown } from './breakdown.js';
import type { CompletionTracker } from '../support/completion-tracker.js';
import { runLoad, type SubmitFn } from './load-driver.js';
import { median, percentile } from '../support/stats.js';

export interface VariantPlan {
  warmupJobs: number;
  jobs: number;
  latencyJobs: number;
  inflight: number;
}

export interface VariantResult {
  jobsPerSecond: number;
  loadedP50Ms: number;
  loadedP99Ms: number;
  unloadedP50Ms: number;
  unloadedP99Ms: number;
  /** Redis used_memory growth over the throughput run, per 1,000 finished jobs. */
  bytesPer1000Jobs: number;
  /** Commands Redis ran per job (those inside Lua scripts included), over the throughput run. */
  commandsPerJob: number;
  /** Bytes between the clients and Redis per job, both ways. */
  netBytesPerJob: number;
  /** CPU of this process (ours: the jobs runtime + the worker stand-in; peer: queue + worker) per job, ms. */
  cpuMsPerJob: number;
  /** CPU of redis-server per job, ms. */
  redisCpuMsPerJob: number;
}

/**
 * One round of a variant: warm up (if asked), then a throughput run (`inflight` jobs at a time; Redis memory and
 * counters read before and after),
 * then an unloaded latency run (one job at a time).
 */
export async function measureVariant(
  submit: SubmitFn,
  tracker: CompletionTracker,
  redis: BenchRedis,
  plan: VariantPlan,
): Promise<VariantResult> {
  if (plan.warmupJobs > 0) await runLoad(submit, tracker, plan.warmupJobs, plan.inflight);
  const breakdown = RedisBreakdown.open(redis.url);
  const calls = await breakdown?.commandCalls();
  const before = await redis.snapshot();
  const cpuBefore = process.cpuUsage();
  const loaded = await runLoad(submit, tracker, plan.jobs, plan.inflight);
  const cpu = process.cpuUsage(cpuBefore);
  const after = await redis.snapshot();
  if (breakdown && calls) {
    console.error(
      `  commands per job: ${RedisBreakdown.commandsPerJob(calls, await breakdown.commandCalls(), plan.jobs)}`,
    );
    for (const [pattern, bytes, count] of (await breakdown.memoryByPattern()).slice(0, 15))
      console.error(
        `  memory ${pattern}: ${count} keys, ${(bytes / plan.jobs).toFixed(0)} B per job of this run`,
      );
    await breakdown.close();
  }
  const unloaded = await runLoad(submit, tracker, plan.latencyJobs, 1);
  return {
    jobsPerSecond: loaded.jobs / (loaded.elapsedMs / 1000),
    loadedP50Ms: percentile(loaded.latenciesMs, 50),
    loadedP99Ms: percentile(loaded.latenciesMs, 99),
    unloadedP50Ms: percentile(unloaded.latenciesMs, 50),
    unloadedP99Ms: percentile(unloaded.latenciesMs, 99),
    bytesPer1000Jobs: ((after.usedMemory - before.usedMemory) / plan.jobs) * 1000,
    commandsPerJob: (after.commands - before.commands) / plan.jobs,
    netBytesPerJob: (after.netBytes - before.netBytes) / plan.jobs,
    cpuMsPerJob: (cpu.user + cpu.system) / 1000 / plan.jobs,
    redisCpuMsPerJob: (after.cpuMs - before.cpuMs) / plan.jobs,
  };
}

/** Each metric's median over the rounds (rounds interleave the variants, so drift hits all of them alike). */
export function medianOf(runs: readonly VariantResult[]): VariantResult {
  const field = (k: keyof VariantResult) => median(runs.map((r) => r[k]));
  return {
    jobsPerSecond: field('jobsPerSecond'),
    loadedP50Ms: field('loadedP50Ms'),
    loadedP99Ms: field('loadedP99Ms'),
    unloadedP50Ms: field('unloadedP50Ms'),
    unloadedP99Ms: field('unloadedP99Ms'),
    bytesPer1000Jobs: field('bytesPer1000Jobs'),
    commandsPerJob: field('commandsPerJob'),
    netBytesPerJob: field('netBytesPerJob'),
    cpuMsPerJob: field('cpuMsPerJob'),
    redisCpuMsPerJob: field('redisCpuMsPerJob'),
  };
}
