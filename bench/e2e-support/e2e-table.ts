import type { RoundResult } from './measure-round.js';
import { fmt, median, ratio } from '../support/stats.js';

/** Process trees whose CPU counts for Switchyard, in table order (launcher: it pipes the apps' logs). */
export const OUR_PROCESSES = [
  'gateway',
  'jobs-subgraph',
  'artifacts-subgraph',
  'gpu-worker',
  'redis',
  'launcher',
  's3',
];

/** Each metric's median over the rounds (rounds alternate the variants, so drift hits all of them). */
export function medianRound(rounds: readonly RoundResult[]): RoundResult {
  const m = (pick: (r: RoundResult) => number) => median(rounds.map(pick));
  const names = new Set(rounds.flatMap((r) => Object.keys(r.cpuMsPerJob)));
  return {
    jobsPerSecond: m((r) => r.jobsPerSecond),
    latencyP50Ms: m((r) => r.latencyP50Ms),
    latencyP99Ms: m((r) => r.latencyP99Ms),
    submitJobsPerSecond: m((r) => r.submitJobsPerSecond),
    submitCallsPerSecond: m((r) => r.submitCallsPerSecond),
    openLoopJobsPerSecond: m((r) => r.openLoopJobsPerSecond),
    startP50Ms: m((r) => r.startP50Ms),
    startP99Ms: m((r) => r.startP99Ms),
    cpuMsPerJob: Object.fromEntries([...names].map((n) => [n, m((r) => r.cpuMsPerJob[n] ?? Number.NaN)])),
    commandsPerJob: m((r) => r.commandsPerJob),
    topCommands: rounds.at(-1)?.topCommands ?? '',
    redisBytesPerJob: m((r) => r.redisBytesPerJob),
    attemptsPerQueueJob: rounds.some((r) => r.attemptsPerQueueJob !== null)
      ? m((r) => r.attemptsPerQueueJob ?? Number.NaN)
      : null,
    loadWindowUs: rounds.at(-1)?.loadWindowUs ?? [0, 0],
    detailPerJob: rounds.at(-1)?.detailPerJob ?? {},
  };
}

const total = (cpu: Record<string, number>, names: readonly string[]) =>
  names.reduce((sum, n) => sum + (cpu[n] ?? 0), 0);

/**
 * The Markdown table: raw BullMQ, then each Switchyard variant followed by ours/peer. Throughput below 1× is
 * slower than the peer; latency, CPU and commands above 1× are more.
 */
export function renderE2eTable(
  peer: RoundResult,
  single: RoundResult,
  batch: RoundResult | null,
  labels: {
    callers: number;
    peerConcurrency: number;
    batchSize: number;
    batchCallers: number;
    pacedRate: number;
  },
): string {
  const cols = batch ? [single, batch] : [single];
  const row = (
    label: string,
    pick: (r: RoundResult) => number,
    digits = 1,
    withPeer = true,
    ratios = true,
    /** Columns (0: submitJob, 1: submitJobs) that compare like with like here. */
    ratioColumns = [0, 1],
  ) => {
    const p = withPeer ? pick(peer) : Number.NaN;
    const cells = cols.flatMap((c, i) => {
      const v = pick(c);
      return [fmt(v, digits), ratios && withPeer && ratioColumns.includes(i) ? ratio(v, p, '') : ''];
    });
    return `| ${label} | ${withPeer ? fmt(p, digits) : '—'} | ${cells.join(' | ')} |`;
  };
  const cpu = (name: string) => (r: RoundResult) => r.cpuMsPerJob[name] ?? Number.NaN;
  const header = [
    `| metric | raw BullMQ (concurrency ${labels.peerConcurrency}) | Switchyard, submitJob | ours/peer |`,
    batch ? ` Switchyard, submitJobs ×${labels.batchSize} | ours/peer |` : '',
  ].join('');
  const sep = `| --- | ---: | ---: | ---: |${batch ? ' ---: | ---: |' : ''}`;
  return [
    header,
    sep,
    row(
      `end to end, jobs/s (${labels.callers} callers; batches: ${labels.batchCallers} callers)`,
      (r) => r.jobsPerSecond,
      0,
    ),
    row('end to end latency under load p50, ms', (r) => r.latencyP50Ms),
    row('end to end latency under load p99, ms', (r) => r.latencyP99Ms),
    row(
      `submit calls/s, ${labels.callers} callers back to back (peer: Queue.add)`,
      (r) => r.submitCallsPerSecond,
      0,
      true,
      true,
      [0], // a submitJobs call carries 100 jobs: compare jobs accepted/s below
    ),
    row('jobs accepted/s, back to back', (r) => r.submitJobsPerSecond, 0),
    row(
      'end to end, open loop: jobs/s, those submitted back to back, first submit → last seen done',
      (r) => r.openLoopJobsPerSecond,
      0,
    ),
    row(`submit → node start p50 at ${labels.pacedRate} jobs/s, ms`, (r) => r.startP50Ms),
    row(`submit → node start p99 at ${labels.pacedRate} jobs/s, ms`, (r) => r.startP99Ms),
    row('CPU per job, gateway, ms', cpu('gateway'), 2, false),
    row('CPU per job, jobs-subgraph, ms', cpu('jobs-subgraph'), 2, false),
    row('CPU per job, artifacts-subgraph, ms', cpu('artifacts-subgraph'), 2, false),
    row('CPU per job, gpu-worker + runners, ms', cpu('gpu-worker'), 2, false),
    row(
      'CPU per job, launcher (log pipes) + s3, ms',
      (r) => (r.cpuMsPerJob.launcher ?? 0) + (r.cpuMsPerJob.s3 ?? 0),
      2,
      false,
    ),
    row('CPU per job, peer process (Queue + Worker + QueueEvents), ms', cpu('self'), 2, true, false),
    row('CPU per job, redis-server, ms', cpu('redis'), 2),
    row('CPU per job, all processes, ms', (r) => total(r.cpuMsPerJob, [...OUR_PROCESSES, 'self']), 2),
    row('Redis commands per job (incl. inside Lua)', (r) => r.commandsPerJob, 0),
    row('Redis memory per 1,000 finished jobs, KiB', (r) => (r.redisBytesPerJob * 1000) / 1024, 0),
  ].join('\n');
}
