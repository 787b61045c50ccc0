/**
 * What a task runner process costs per attempt, on its side of the crossing (issue 12, sessions 19–20). The real
 * runner (runner-main.js, forked through the worker's RunnerProcess, as an actor forks it) is fed leases of no-op
 * attempts (test.sleep {ms: 0}) at a steady rate, as a runner in the stack gets them: each lease is handed over in
 * one `runs` message and its attempts claimed as the actor claims them. A fresh runner per round, so what is
 * measured is a runner's first leases, when its code is still cold (interpreted): the state every runner of an e2e
 * benchmark run is in, and every runner after a restart.
 *
 * Measured: the CPU of all the runner's threads (/proc/<pid>/task/<tid>/schedstat), per attempt, over the first and
 * the second half of the leases; the runner's start (fork to `ready`, wall and CPU). The peer, in the same run: a
 * bare forked child that says `ready` and answers each lease with one batch of results, parsing nothing
 * (worker-support/bare-runner-peer.ts): the floor of the crossing. Printed: ours/peer.
 *
 * BENCH_RUNNER_V8_FLAGS: sets of V8 flags to try on the runner too, separated by ';' (e.g.
 * "--always-sparkplug;--no-lazy-feedback-allocation"); each set is one more variant, set by a shim entry
 * (worker-support/runner-with-v8-flags.ts) before the runner's modules load.
 * Run: `node dist/bench/runner-ipc.js` after a build (BENCH_LEASES, BENCH_LEASE_RATE, BENCH_LEASE_SIZES, BENCH_ROUNDS).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { commaList, loadConfig, positiveInt } from '#libs/config';
import { runOrder, type RunOrder } from '../apps/gpu-worker/src/runner/ipc-protocol.js';
import { defaultRunnerEntry } from '../apps/gpu-worker/src/runner/runner-entry.js';
import { runnerEnvironment } from '../apps/gpu-worker/src/runner/runner-environment.js';
import { RunnerProcess, type RunHandlers } from '../apps/gpu-worker/src/runner/runner-process.js';
import { fmt, median, ratio } from './support/stats.js';

process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const env = loadConfig({
  BENCH_LEASES: positiveInt(800),
  BENCH_LEASE_RATE: positiveInt(20),
  BENCH_LEASE_SIZES: commaList(['8', '3']).pipe(
    z.array(
      z
        .string()
        .regex(/^[1-9][0-9]*$/, 'expected lease sizes of 1 or more')
        .transform(Number),
    ),
  ),
  BENCH_ROUNDS: positiveInt(1),
  /** V8 flag sets separated by `;`, each one more variant of the runner. */
  BENCH_RUNNER_V8_FLAGS: z.string().default(''),
});
const config = {
  leases: env.BENCH_LEASES,
  perSecond: env.BENCH_LEASE_RATE,
  sizes: env.BENCH_LEASE_SIZES,
  rounds: env.BENCH_ROUNDS,
  flagSets: env.BENCH_RUNNER_V8_FLAGS.split(';')
    .map((s) => s.trim())
    .filter(Boolean),
};
const HERE = resolve(fileURLToPath(new URL('.', import.meta.url)));
const step = (what: string) => console.error(`[runner-ipc bench] ${what}`);

/** CPU time of all the threads of `pid` so far, in µs (schedstat: ns on the CPU, per thread). */
function threadsCpuUs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns / 1000;
}

interface Variant {
  name: string;
  entry: string;
  env: Record<string, string>;
}

interface Measured {
  startWallMs: number;
  startCpuMs: number;
  /** µs of the runner's CPU per attempt over the first half of the leases, then the second. */
  firstUs: number;
  secondUs: number;
  failed: number;
}

const workRoot = mkdtempSync(join(tmpdir(), 'sy-bench-runner-ipc-'));
process.once('exit', () => rmSync(workRoot, { recursive: true, force: true }));
const actorId = 'bench/cpu0';
const device = { index: 0, kind: 'CPU' as const, name: 'bench cpu' };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const handlers: RunHandlers = { progress: () => undefined, log: () => undefined, artifact: () => undefined };

/** The order of attempt `k` of lease `i`, as the actor builds it (runOrderFor). */
function orderFor(round: string, i: number, k: number): RunOrder {
  return runOrder(
    {
      type: 'run',
      attempt: { jobId: `bench-${round}-${i}`, nodeId: `n${k}`, attempt: 1, tenant: 'bench' },
      task: 'test.sleep',
      taskVersion: '1.0.0',
      inputs: { ms: 0 },
    },
    { actorId, workRoot },
  );
}

async function measure(variant: Variant, size: number, round: string): Promise<Measured> {
  const from = performance.now();
  const runner = await RunnerProcess.start({
    entry: variant.entry,
    actorId,
    cudaVisibleDevices: '',
    device,
    workRoot,
    env: { ...runnerEnvironment(process.env), ...variant.env },
    settings: {
      logLevel: 'warn',
      heartbeatIntervalMs: 1_000, // the worker's default (WORKER_HEARTBEAT_INTERVAL_MS)
      testTasks: true,
      commandTaskUser: { user: 'nobody', uidBase: 0 },
    },
    bootTimeoutMs: 60_000,
    killGraceMs: 1_000,
    logger: quiet,
  });
  const startWallMs = performance.now() - from;
  const startCpuMs = threadsCpuUs(runner.pid) / 1000;
  try {
    const intervalMs = 1000 / config.perSecond;
    const half = Math.floor(config.leases / 2);
    const cpuAt: number[] = [threadsCpuUs(runner.pid)];
    let failed = 0;
    const t0 = performance.now();
    for (let i = 0; i < config.leases; i++) {
      const wait = t0 + i * intervalMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const orders = Array.from({ length: size }, (_, k) => orderFor(round, i, k));
      runner.enqueue(orders);
      const outcomes = await Promise.all(orders.map((o) => runner.run(o, handlers)));
      failed += outcomes.filter((o) => o.kind !== 'result').length;
      if (i + 1 === half || i + 1 === config.leases) cpuAt.push(threadsCpuUs(runner.pid));
    }
    return {
      startWallMs,
      startCpuMs,
      firstUs: (cpuAt[1]! - cpuAt[0]!) / (half * size),
      secondUs: (cpuAt[2]! - cpuAt[1]!) / ((config.leases - half) * size),
      failed,
    };
  } finally {
    await runner.kill();
  }
}

const variants: Variant[] = [
  { name: 'ours', entry: defaultRunnerEntry(), env: {} },
  ...config.flagSets.map((flags) => ({
    name: `ours ${flags}`,
    entry: join(HERE, 'worker-support/runner-with-v8-flags.js'),
    env: { BENCH_RUNNER_V8_FLAGS: flags, BENCH_RUNNER_ENTRY: defaultRunnerEntry() },
  })),
  { name: 'peer', entry: join(HERE, 'worker-support/bare-runner-peer.js'), env: {} },
];

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const loadAtStart = load();
const results = new Map<string, Measured[]>();
for (let r = 0; r < config.rounds; r++)
  for (const size of config.sizes)
    // the variants take turns within each round (the order rotates), so none gets the quietest moments
    for (let v = 0; v < variants.length; v++) {
      const variant = variants[(v + r) % variants.length]!;
      step(`round ${r + 1}/${config.rounds}, leases of ${size}: ${variant.name} (load ${load()})`);
      const m = await measure(variant, size, `${r}-${size}-${v}`);
      const key = `${size}|${variant.name}`;
      results.set(key, [...(results.get(key) ?? []), m]);
    }

const med = (ms: Measured[], f: (m: Measured) => number) => median(ms.map(f));
console.log(
  `## runner-ipc — ${new Date().toISOString()}\n\n` +
    `Node ${process.version}; ${config.leases} leases at ${config.perSecond}/s per runner, a fresh runner per ` +
    `round; ${config.rounds} round(s), medians; load average ${loadAtStart} at the start, ${load()} at the end.\n`,
);
console.log(
  '| leases of | runner | start, ms (wall / CPU) | µs per attempt, leases 1–half | second half | ours/peer (1st / 2nd) | failed | each round (1st / 2nd half) |',
);
console.log('| --: | --- | --: | --: | --: | --: | --: | --- |');
for (const size of config.sizes) {
  const peer = results.get(`${size}|peer`)!;
  for (const variant of variants) {
    const ms = results.get(`${size}|${variant.name}`)!;
    const first = med(ms, (m) => m.firstUs);
    const second = med(ms, (m) => m.secondUs);
    const vsPeer =
      variant.name === 'peer'
        ? ''
        : `${ratio(
            first,
            med(peer, (m) => m.firstUs),
          )} / ${ratio(
            second,
            med(peer, (m) => m.secondUs),
          )}`;
    const start = `${fmt(
      med(ms, (m) => m.startWallMs),
      0,
    )} / ${fmt(
      med(ms, (m) => m.startCpuMs),
      0,
    )}`;
    const failed = ms.reduce((n, m) => n + m.failed, 0);
    const rounds = ms.map((m) => `${fmt(m.firstUs, 0)} / ${fmt(m.secondUs, 0)}`).join(', ');
    console.log(
      `| ${size} | ${variant.name} | ${start} | ${fmt(first, 0)} | ${fmt(second, 0)} | ${vsPeer} | ${failed} | ${rounds} |`,
    );
  }
}
