/**
 * Where the Redis commands of one job go: runs the scheduler bench's target (JobsRuntime + gpu-worker stand-in,
 * no HTTP) on its own redis-server, warms up, then captures MONITOR while `BENCH_TRACE_JOBS` (default 5)
 * one-node jobs run (`BENCH_TRACE_INFLIGHT` at a time, default 1), and prints commands per job grouped by what issued them: each EVALSHA with
 * the commands its script ran (scheduler scripts by name, BullMQ scripts by their first key), and plain
 * commands by name. Not a benchmark with a peer: a measuring tool (`node dist/bench/scheduler-trace.js`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { SCHEDULER_SCRIPTS } from '../apps/jobs-subgraph/src/scheduler/scripts.js';
import { BenchRedis } from './scheduler-support/bench-redis.js';
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

const shaNames = new Map<string, string>();
for (const name of SCHEDULER_SCRIPTS.names) shaNames.set(SCHEDULER_SCRIPTS.get(name).sha, name);

const redis = await BenchRedis.start();
const lines: string[] = [];
let monitor: Redis | undefined;
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
    const mon = await monitor.monitor();
    mon.on('monitor', (time: string, args: string[], source: string) =>
      lines.push(JSON.stringify([source, ...args])),
    );
    await sleep(100);
    let next = 0;
    await Promise.all(
      Array.from({ length: INFLIGHT }, async () => {
        while (next < JOBS) await runOne(WARMUP + next++);
      }),
    );
    await sleep(SETTLE_MS);
    mon.disconnect();
  } finally {
    await target.stop();
  }
} finally {
  monitor?.disconnect();
  await redis.stop();
}

// group: an EVALSHA line, then the lua lines that follow it, belong together
const groups = new Map<string, { calls: number; inner: Map<string, number> }>();
let current: { calls: number; inner: Map<string, number> } | undefined;
let total = 0;
for (const line of lines) {
  const [source, cmd, ...args] = JSON.parse(line) as string[];
  const name = cmd!.toLowerCase();
  if (name === 'monitor') continue;
  total++;
  if (source === 'lua') {
    if (current) current.inner.set(name, (current.inner.get(name) ?? 0) + 1);
    continue;
  }
  let label: string;
  if (name === 'evalsha' || name === 'eval') {
    const known = shaNames.get(args[0]!);
    label = known
      ? `script ${known}`
      : `bullmq ${args[1]} keys, ${String(args[2] ?? '').replace(/^[^:]*:[^:]*:/, '')}`;
  } else label = `cmd ${name}`;
  const g = groups.get(label) ?? { calls: 0, inner: new Map<string, number>() };
  g.calls++;
  groups.set(label, g);
  current = name === 'evalsha' || name === 'eval' ? g : undefined;
}
const per = (n: number) => (n / JOBS).toFixed(1);
const rows = [...groups.entries()]
  .map(([label, g]) => {
    const inner = [...g.inner.values()].reduce((a, b) => a + b, 0);
    return { label, calls: g.calls, inner, g };
  })
  .sort((a, b) => b.calls + b.inner - (a.calls + a.inner));
console.log(`Redis commands per one-node job (MONITOR, ${JOBS} jobs, ${INFLIGHT} in flight): ${per(total)}`);
for (const r of rows) {
  const detail = [...r.g.inner.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c} ${per(n)}`)
    .join(', ');
  console.log(
    `${per(r.calls + r.inner).padStart(6)}  ${r.label} ×${per(r.calls)}${detail ? `  [${detail}]` : ''}`,
  );
}
process.exit(0);

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}
