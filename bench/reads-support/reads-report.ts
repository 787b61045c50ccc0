/** Medians over rounds and the Markdown table of the gateway-reads benchmark. */
import type { LoadResult } from './load-loop.js';
import { fmt, median, percentile, ratio } from '../support/stats.js';

export interface RoundResult {
  reqPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU ms per request of each measured process (gateway = the gateway under test). */
  cpuMsPerRequest: Record<string, number>;
  redisCommandsPerRequest: number;
}

export function roundResult(
  load: LoadResult,
  cpuMs: Record<string, number>,
  redisCommands: number,
): RoundResult {
  const sorted = [...load.latenciesMs].sort((a, b) => a - b);
  const n = Math.max(1, load.requests);
  return {
    reqPerSecond: load.requests / load.seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    cpuMsPerRequest: Object.fromEntries(Object.entries(cpuMs).map(([k, v]) => [k, v / n] as const)),
    redisCommandsPerRequest: redisCommands / n,
  };
}

export function medianRound(rounds: readonly RoundResult[]): RoundResult {
  const keys = Object.keys(rounds[0]!.cpuMsPerRequest);
  return {
    reqPerSecond: median(rounds.map((r) => r.reqPerSecond)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    cpuMsPerRequest: Object.fromEntries(
      keys.map((k) => [k, median(rounds.map((r) => r.cpuMsPerRequest[k]!))]),
    ),
    redisCommandsPerRequest: median(rounds.map((r) => r.redisCommandsPerRequest)),
  };
}

const PROCESS_LABELS: Record<string, string> = {
  gateway: 'gateway',
  'jobs-subgraph': 'jobs subgraph',
  'artifacts-subgraph': 'artifacts subgraph',
  redis: 'redis-server',
  'load generator': 'load generator (this process)',
};

export function renderReadsTable(peer: RoundResult, ours: RoundResult): string {
  const row = (label: string, p: number, o: number, digits = 1) =>
    `| ${label} | ${fmt(p, digits)} | ${fmt(o, digits)} | ${ratio(o, p)} |`;
  const cpuRows = Object.keys(PROCESS_LABELS)
    .filter((k) => k in ours.cpuMsPerRequest)
    .map((k) =>
      row(
        `CPU per request, ${PROCESS_LABELS[k] ?? k}, ms`,
        peer.cpuMsPerRequest[k]!,
        ours.cpuMsPerRequest[k]!,
        2,
      ),
    );
  const total = (r: RoundResult) =>
    Object.entries(r.cpuMsPerRequest)
      .filter(([k]) => k !== 'load generator')
      .reduce((a, [, v]) => a + v, 0);
  return [
    '| metric | plain @apollo/gateway | Switchyard gateway | ours/peer |',
    '| --- | ---: | ---: | ---: |',
    row('throughput, req/s', peer.reqPerSecond, ours.reqPerSecond, 0),
    row('latency p50, ms', peer.p50Ms, ours.p50Ms),
    row('latency p99, ms', peer.p99Ms, ours.p99Ms),
    ...cpuRows,
    row('CPU per request, gateway + subgraphs + redis, ms', total(peer), total(ours), 2),
    row(
      'Redis commands per request (incl. inside Lua)',
      peer.redisCommandsPerRequest,
      ours.redisCommandsPerRequest,
      1,
    ),
  ].join('\n');
}
