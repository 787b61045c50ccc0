import { loadConfig, nonNegativeInt, positiveInt } from '#libs/config';

/** Sizes of the scheduler benchmark (env, parsed once). The defaults finish in about a minute on 2 cores. */
export const schedulerBenchEnv = {
  /** Switchyard single-node jobs per throughput run. */
  BENCH_JOBS: positiveInt(3_000),
  /** Raw BullMQ jobs per throughput run: the peer is an order of magnitude faster, so it needs more to be timed. */
  BENCH_PEER_JOBS: positiveInt(10_000),
  /** Diamond jobs per throughput run; 0 = BENCH_JOBS / 4, so the diamond run has as many nodes. */
  BENCH_DIAMOND_JOBS: nonNegativeInt(0),
  /** Jobs submitted one at a time for the unloaded latency (each variant). */
  BENCH_LATENCY_JOBS: positiveInt(200),
  /** Rounds of peer, 1-node, diamond in turn; the table shows each metric's median over the rounds. */
  BENCH_ROUNDS: positiveInt(3),
  /** Jobs run before each variant is first measured (JIT, script cache, connections); diamond: a quarter. */
  BENCH_WARMUP_JOBS: nonNegativeInt(500),
  /** BullMQ worker concurrency, the same for the peer and the gpu-worker stand-in. */
  BENCH_CONCURRENCY: positiveInt(8),
  /** Jobs submitted and not yet finished, at most, during a throughput run. */
  BENCH_INFLIGHT: positiveInt(32),
  /** A job not finished within this fails the benchmark (nothing hangs). */
  BENCH_JOB_TIMEOUT_MS: positiveInt(60_000),
};

export type SchedulerBenchConfig = ReturnType<typeof loadSchedulerBenchConfig>;

export function loadSchedulerBenchConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadConfig(schedulerBenchEnv, env);
  return {
    ...c,
    diamondJobs: c.BENCH_DIAMOND_JOBS || Math.max(1, Math.ceil(c.BENCH_JOBS / 4)),
    diamondWarmupJobs: Math.ceil(c.BENCH_WARMUP_JOBS / 4),
  };
}
