import type { LoadRun } from './http-load.js';
import { fmt, median, percentile, ratio } from '../support/stats.js';

/** One side's measurement of one operation in one round. */
export interface SideResult {
  requestsPerSecond: number;
  /** CPU of the gateway process (user + system) per answered request. */
  gatewayCpuMsPerRequest: number;
  /** CPU of the jobs subgraph per request (the same subgraphs serve both gateways). */
  jobsCpuMsPerRequest: number;
  p50Ms: number;
  p99Ms: number;
}

export function sideResult(run: LoadRun, gatewayCpuMs: number, jobsCpuMs: number): SideResult {
  return {
    requestsPerSecond: (run.requests * 1000) / run.elapsedMs,
    gatewayCpuMsPerRequest: gatewayCpuMs / run.requests,
    jobsCpuMsPerRequest: jobsCpuMs / run.requests,
    p50Ms: percentile(run.latenciesMs, 50),
    p99Ms: percentile(run.latenciesMs, 99),
  };
}

export function medianSide(runs: readonly SideResult[]): SideResult {
  const of = (k: keyof SideResult) => median(runs.map((r) => r[k]));
  return {
    requestsPerSecond: of('requestsPerSecond'),
    gatewayCpuMsPerRequest: of('gatewayCpuMsPerRequest'),
    jobsCpuMsPerRequest: of('jobsCpuMsPerRequest'),
    p50Ms: of('p50Ms'),
    p99Ms: of('p99Ms'),
  };
}

/**
 * Medians per operation as a Markdown table: the floor (a plain @apollo/gateway over a constant jobs subgraph),
 * a plain @apollo/gateway over our subgraphs, ours, and ours against each.
 */
export function renderOverheadTable(
  ops: Array<{ label: string; floor: SideResult; peer: SideResult; ours: SideResult }>,
): string {
  const lines = [
    '| operation | metric | floor: plain gateway + constant subgraph | plain @apollo/gateway | Switchyard gateway | ours/peer | ours/floor |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  const rows: Array<[string, keyof SideResult, number]> = [
    ['requests/s', 'requestsPerSecond', 0],
    ['gateway CPU per request, ms', 'gatewayCpuMsPerRequest', 3],
    ['jobs subgraph CPU per request, ms', 'jobsCpuMsPerRequest', 3],
    ['latency p50, ms', 'p50Ms', 2],
    ['latency p99, ms', 'p99Ms', 2],
  ];
  for (const op of ops) {
    for (const [label, key, digits] of rows)
      lines.push(
        `| ${op.label} | ${label} | ${fmt(op.floor[key], digits)} | ${fmt(op.peer[key], digits)} | ${fmt(op.ours[key], digits)} | ${ratio(op.ours[key], op.peer[key])} | ${ratio(op.ours[key], op.floor[key])} |`,
      );
    const both = (r: SideResult) => r.gatewayCpuMsPerRequest + r.jobsCpuMsPerRequest;
    lines.push(
      `| ${op.label} | gateway + jobs subgraph CPU per request, ms | ${fmt(both(op.floor), 3)} | ${fmt(both(op.peer), 3)} | ${fmt(both(op.ours), 3)} | ${ratio(both(op.ours), both(op.peer))} | ${ratio(both(op.ours), both(op.floor))} |`,
    );
  }
  return lines.join('\n');
}
