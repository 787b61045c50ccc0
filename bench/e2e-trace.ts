/**
 * Where the Redis commands of one job go on the real stack (`npm start`: gateway, jobs subgraph, gpu-worker with
 * its leases and runners), where scheduler-trace has a stand-in worker and no HTTP. Warms up, then captures
 * MONITOR while `BENCH_TRACE_JOBS` (default 600) one-node no-op jobs run through the gateway, `BENCH_TRACE_CALLERS`
 * (default 64) at a time, each with a single `submitJob` (`BENCH_TRACE_BATCH` > 1: `submitJobs` of that many),
 * waiting for its done on `jobFeed`, as e2e-throughput's callers do; prints commands per job grouped by what
 * issued them (our scripts by name, BullMQ's by key count and first key, plain commands by name). MONITOR slows
 * Redis: counts only, no times. Not a benchmark with a peer: a measuring tool (`node dist/bench/e2e-trace.js`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { loadConfig, nonNegativeInt, positiveInt } from '#libs/config';
import { e2eStackEnv } from './e2e-support/e2e-config.js';
import { GatewayClient } from './e2e-support/gateway-client.js';
import { JobFeed } from './e2e-support/job-feed.js';
import { closedLoop } from './e2e-support/phases.js';
import { launchStack } from './stack-support/launched-stack.js';
import { CommandTrace } from './support/command-trace.js';

const config = loadConfig(
  {
    BENCH_TRACE_JOBS: positiveInt(600),
    BENCH_TRACE_CALLERS: positiveInt(64),
    BENCH_TRACE_BATCH: z.coerce.number().int().min(1).max(100).default(1),
    BENCH_WARMUP_JOBS: nonNegativeInt(300),
    /** As in e2e-throughput: the gpu-worker's CPU actors (the lease sizes follow from them). */
    BENCH_WORKER_ACTORS: positiveInt(8),
  },
  process.env,
);
const { BENCH_TRACE_JOBS: JOBS, BENCH_TRACE_CALLERS: CALLERS, BENCH_TRACE_BATCH: BATCH } = config;

process.once('SIGINT', () => process.exit(130));
const stack = await launchStack(e2eStackEnv(config.BENCH_WORKER_ACTORS)); // e2e-throughput's stack
let report: string;
try {
  const client = new GatewayClient(stack.url, stack.key, CALLERS + 8);
  const feed = await JobFeed.open(stack.wsUrl, stack.key, 120_000);
  const monitor = new Redis(stack.redisUrl);
  try {
    // e2e-throughput's closed loop: CALLERS callers, each submitting and waiting for its jobs on jobFeed
    const submit = async (first: number, n: number) =>
      n === 1 && BATCH === 1 ? [await client.submitJob(first)] : client.submitJobs(first, n);
    const run = (count: number) => closedLoop(submit, feed.tracker, count, CALLERS, BATCH);
    await run(config.BENCH_WARMUP_JOBS);
    await sleep(500);
    const trace = await CommandTrace.start(monitor);
    await sleep(100);
    await run(JOBS);
    await sleep(500); // the last jobs' trailing work (acks, lease ends)
    trace.stop();
    const how = BATCH === 1 ? 'single submitJob calls' : `submitJobs of ${BATCH}`;
    report = trace.report(
      JOBS,
      `Redis commands per one-node job (MONITOR, ${JOBS} jobs, ${CALLERS} callers, ${how})`,
    );
  } finally {
    monitor.disconnect();
    await feed.close();
    client.close();
  }
} finally {
  await stack.stop();
}
console.log(report);
process.exit(0);
