/**
 * Where the Redis commands of one job go: runs the scheduler bench's target (JobsRuntime + gpu-worker stand-in,
 * no HTTP) on its own redis-server, warms up, then captures MONITOR while `BENCH_TRACE_JOBS` (default 5)
 * one-node jobs run (`BENCH_TRACE_INFLIGHT` at a time, default 1), and prints commands per job grouped by what issued them: each EVALSHA with
 * the commands its script ran (scheduler scripts by name, BullMQ scripts by their first key), and plain
 * commands by name. Then, as many jobs again without MONITOR (it slows every command it feeds) under SLOWLOG at
 * 0 µs, and prints Redis time per job inside each of those (a script's time includes the commands it runs; those
 * commands are listed again on their own lines). The slow log itself is part of those times (at 0 µs it records
 * every command a script runs: a script of 20 HSETs took ≈ 110 µs under it and 35 µs without, by INFO
 * commandstats): compare the entries with each other, not with other tools. Not a benchmark with a peer: a measuring tool
 * (`node dist/bench/scheduler-trace.js`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { BenchRedis } from './scheduler-support/bench-redis.js';
import { CommandTrace, commandLabel } from './support/command-trace.js';
import { singleNodeJob } from './scheduler-support/bench-tasks.js';
import { fileLogger, SwitchyardTarget } from './scheduler-support/switchyard-target.js';

const JOBS = Number(process.env.BENCH_TRACE_JOBS ?? 5);
const WARMUP = Number(process.env.BENCH_TRACE_WARMUP ?? 20);
const SETTLE_MS = Number(process.env.BENCH_TRACE_SETTLE_MS ?? 300);
/** Jobs in flight while tracing (1: one at a time; more: the loaded path, where the fair stage holds attempts). */
const INFLIGHT = Number(process.env.BENCH_TRACE_INFLIGHT ?? 1);

process.once('SIGINT', () => process.exit(130));
const logDir = mkdtempSync(join(tmpdir(), 'switchyard-trace-log-'));
process.once('exit', () => rmSync(logDir, { recursive: true, force: true }));

const redis = await BenchRedis.start();
let trace: CommandTrace | undefined;
let monitor: Redis | undefined;
let timings: [label: string, micros: number][] | undefined;
try {
  const target = await SwitchyardTarget.start(redis.url, 8, 30_000, fileLogger(join(logDir, 'jobs.log')));
  try {
    const submit = target.submitter((i) => singleNodeJob(i));
    const runOne = async (i: number) => {
      const id = await submit(i);
      await target.tracker.wait(id);
    };
    for (let i = 0; i < WARMUP; i++) await runOne(i);
    await sleep(SETTLE_MS);
    monitor = new Redis(redis.url);
    trace = await CommandTrace.start(monitor);
    await sleep(100);
    /** JOBS jobs numbered from `first`, INFLIGHT at a time. */
    const runJobs = async (first: number) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: INFLIGHT }, async () => {
          while (next < JOBS) await runOne(first + next++);
        }),
      );
    };
    await runJobs(WARMUP);
    await sleep(SETTLE_MS);
    trace.stop();
    // timed in a second pass of as many jobs: MONITOR slows every command it feeds
    await slowlogEverything(redis.url);
    await runJobs(WARMUP + JOBS);
    await sleep(SETTLE_MS);
    timings = await slowlogOf(redis.url);
  } finally {
    await target.stop();
  }
} finally {
  monitor?.disconnect();
  await redis.stop();
}

console.log(
  trace!.report(JOBS, `Redis commands per one-node job (MONITOR, ${JOBS} jobs, ${INFLIGHT} in flight)`),
);
// Redis time inside each command (SLOWLOG at 0 µs logs every command with its duration, the ones a script runs
// too): where redis-server's CPU per job goes, by the same labels. No total: a script's time already includes
// the commands it ran, which have lines of their own.
const micros = new Map<string, number>();
for (const [label, us] of timings ?? []) micros.set(label, (micros.get(label) ?? 0) + us);
console.log(
  `\nRedis time per job inside each command (SLOWLOG; a script's includes the commands it ran, listed again on their own):`,
);
for (const [label, us] of [...micros.entries()].sort((a, b) => b[1] - a[1])) {
  console.log(`${(us / JOBS).toFixed(0).padStart(6)} µs  ${label}`);
}
process.exit(0);

async function slowlogEverything(url: string): Promise<void> {
  const client = new Redis(url);
  try {
    await client.config('SET', 'slowlog-log-slower-than', '0');
    await client.config('SET', 'slowlog-max-len', '1000000');
    await client.slowlog('RESET');
  } finally {
    client.disconnect();
  }
}

/** [label, µs] for every command logged since slowlogEverything(). */
async function slowlogOf(url: string): Promise<[string, number][]> {
  const client = new Redis(url);
  try {
    const entries = (await client.slowlog('GET', '-1')) as [number, number, number, string[]][];
    return entries.map(([, , us, [cmd, ...args]]) => [commandLabel(cmd!.toLowerCase(), args), us]);
  } finally {
    client.disconnect();
  }
}
