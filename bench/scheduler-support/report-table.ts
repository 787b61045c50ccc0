import type { VariantResult } from './measure.js';
import { fmt, ratio } from '../support/stats.js';

export interface ReportColumns {
  peer: VariantResult;
  single: VariantResult;
  diamond: VariantResult;
  diamondNodes: number;
  diamondLevels: number;
}

const kib = (bytes: number) => fmt(bytes / 1024, 0);

/**
 * The result as a Markdown table: each Switchyard column is followed by ours/peer. For throughput a ratio
 * below 1 means slower than raw BullMQ; for latency and memory a ratio above 1 means more.
 */
export function renderTable(r: ReportColumns): string {
  const { peer, single, diamond, diamondNodes: n, diamondLevels: levels } = r;
  const row = (
    label: string,
    p: number,
    s: number,
    d: number,
    digits = 1,
    unit: (v: number) => string = (v) => fmt(v, digits),
  ) => `| ${label} | ${unit(p)} | ${unit(s)} | ${ratio(s, p)} | ${unit(d)} | ${ratio(d, p)} |`;
  return [
    `| metric | raw BullMQ | Switchyard 1-node | ours/peer | Switchyard diamond (${n} nodes) | ours/peer |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    row('throughput, jobs/s', peer.jobsPerSecond, single.jobsPerSecond, diamond.jobsPerSecond, 0),
    row('throughput, nodes/s', peer.jobsPerSecond, single.jobsPerSecond, diamond.jobsPerSecond * n, 0),
    row('latency under load p50, ms', peer.loadedP50Ms, single.loadedP50Ms, diamond.loadedP50Ms),
    row('latency under load p99, ms', peer.loadedP99Ms, single.loadedP99Ms, diamond.loadedP99Ms),
    row('latency unloaded p50, ms', peer.unloadedP50Ms, single.unloadedP50Ms, diamond.unloadedP50Ms, 2),
    row('latency unloaded p99, ms', peer.unloadedP99Ms, single.unloadedP99Ms, diamond.unloadedP99Ms, 2),
    row(
      `unloaded p50 per critical-path node (diamond: ÷${levels}), ms`,
      peer.unloadedP50Ms,
      single.unloadedP50Ms,
      diamond.unloadedP50Ms / levels,
      2,
    ),
    row(
      'CPU per job, benchmark process (ours: jobs runtime + worker stand-in), ms',
      peer.cpuMsPerJob,
      single.cpuMsPerJob,
      diamond.cpuMsPerJob,
      2,
    ),
    row(
      'CPU per job, redis-server, ms',
      peer.redisCpuMsPerJob,
      single.redisCpuMsPerJob,
      diamond.redisCpuMsPerJob,
      2,
    ),
    row(
      'Redis commands per job (incl. inside Lua)',
      peer.commandsPerJob,
      single.commandsPerJob,
      diamond.commandsPerJob,
      0,
    ),
    row(
      'Redis traffic per job (in + out), KiB',
      peer.netBytesPerJob,
      single.netBytesPerJob,
      diamond.netBytesPerJob,
      1,
      (v) => fmt(v / 1024, 1),
    ),
    row(
      'Redis memory per 1,000 finished jobs, KiB',
      peer.bytesPer1000Jobs,
      single.bytesPer1000Jobs,
      diamond.bytesPer1000Jobs,
      0,
      kib,
    ),
    row(
      'Redis memory per 1,000 finished nodes, KiB',
      peer.bytesPer1000Jobs,
      single.bytesPer1000Jobs,
      diamond.bytesPer1000Jobs / n,
      0,
      kib,
    ),
  ].join('\n');
}
