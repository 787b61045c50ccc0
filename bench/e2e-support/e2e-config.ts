import { z } from 'zod';
import { flag, loadConfig, nonNegativeInt, positiveInt } from '#libs/config';
import { NO_LIMITS_TEST_TASKS_ENV } from '../stack-support/launched-stack.js';

/** Sizes of the end-to-end benchmark (env, parsed once). The defaults finish in a few minutes on 2 cores. */
export const e2eBenchEnv = {
  /** Rounds of peer, submitJob, submitJobs in turn; the table shows each metric's median over the rounds. */
  BENCH_ROUNDS: positiveInt(3),
  /** One-node jobs per end-to-end run with single submitJob calls. */
  BENCH_JOBS: positiveInt(1_500),
  /** Jobs per end-to-end run with submitJobs batches (0: the submitJobs column is skipped). */
  BENCH_BATCH_JOBS: nonNegativeInt(3_000),
  /** Raw BullMQ jobs per run (the peer is much faster; fewer is too short to time). */
  BENCH_PEER_JOBS: positiveInt(10_000),
  /** Concurrent submitJob callers (each submits, waits for its job's done on jobFeed, repeats). */
  BENCH_CALLERS: positiveInt(64),
  /** Inputs per submitJobs call (the API takes at most 100). */
  BENCH_BATCH_SIZE: positiveInt(100),
  /** Concurrent submitJobs callers (each submits a batch, waits for all of its jobs, repeats). */
  BENCH_BATCH_CALLERS: positiveInt(4),
  /** The peer's BullMQ worker concurrency. */
  BENCH_PEER_CONCURRENCY: positiveInt(50),
  /**
   * Jobs submitted back to back per run (the "submit calls/s" and open-loop rows; BENCH_CALLERS callers, not
   * waiting for the jobs). 0: as many as the peer's back-to-back run (BENCH_PEER_JOBS), so that the ramp-up and
   * the last jobs' drain weigh the same on both sides of the open-loop ratio (with 1,000 against the peer's
   * 10,000 they weighed ten times more on ours: bench/README, "Issue 12, session 22").
   */
  BENCH_SUBMIT_CALLS: nonNegativeInt(0),
  /** Jobs per paced latency run (submit → node start), at BENCH_PACED_RATE jobs/s. */
  BENCH_PACED_JOBS: positiveInt(300),
  BENCH_PACED_RATE: positiveInt(100),
  /**
   * Jobs run end to end before round 1 (JIT, connections, script cache), ours and peer. 3,000: a fresh stack's
   * CPU per single-call job falls from ≈ 6 ms (its first 500 jobs) to its steady ≈ 2.3–2.6 ms only after ≈ 3,000
   * jobs (V8 tiering up Apollo, graphql-js and ours: bench/README "Issue 12, session 18"); with 300, round 1
   * measured processes still warming up.
   */
  BENCH_WARMUP_JOBS: nonNegativeInt(3_000),
  /** CPU actors of the gpu-worker (WORKER_CPU_ACTORS): each runs one attempt at a time in its runner. */
  BENCH_WORKER_ACTORS: positiveInt(8),
  /** A job not done (on jobFeed / QueueEvents) within this fails the benchmark. */
  BENCH_JOB_TIMEOUT_MS: positiveInt(120_000),
  /**
   * Also print, per round, each root process's user/system CPU and its main thread's sleeps (one per event-loop
   * wake-up) and preemptions per job (/proc; the process itself, not its children).
   */
  BENCH_CPU_DETAIL: flag(false),
  /** Where --cpu-prof writes the apps' profiles (only with --cpu-prof; default: a temp dir). */
  BENCH_CPU_PROF_DIR: z.string().optional(),
};

/** The stack as `npm start` runs it, with NO_LIMITS_TEST_TASKS_ENV and `workerActors` CPU actors. */
export function e2eStackEnv(workerActors: number): Record<string, string> {
  return { ...NO_LIMITS_TEST_TASKS_ENV, WORKER_CPU_ACTORS: String(workerActors) };
}

/** Jobs submitted back to back per run, ours and the peer's alike (BENCH_SUBMIT_CALLS, 0: BENCH_PEER_JOBS). */
export function backToBackJobs(
  config: Pick<E2eBenchConfig, 'BENCH_SUBMIT_CALLS' | 'BENCH_PEER_JOBS'>,
): number {
  return config.BENCH_SUBMIT_CALLS || config.BENCH_PEER_JOBS;
}

export type E2eBenchConfig = ReturnType<typeof loadE2eBenchConfig>;

export function loadE2eBenchConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(e2eBenchEnv, env);
}
