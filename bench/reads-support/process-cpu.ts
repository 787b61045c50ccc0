/** CPU time (user + system) of processes by pid, from /proc/<pid>/stat (Linux), in milliseconds. */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the command name (field 2) may contain spaces: count fields after its closing parenthesis
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

/** Snapshot of several named processes; `since` gives the CPU ms each used after the snapshot. */
export function cpuSnapshot(pids: Record<string, number>): { since(): Record<string, number> } {
  const before = Object.fromEntries(Object.entries(pids).map(([n, p]) => [n, processCpuMs(p)] as const));
  return {
    since: () =>
      Object.fromEntries(Object.entries(pids).map(([n, p]) => [n, processCpuMs(p) - before[n]!] as const)),
  };
}
