import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime/stime (USER_HZ: 100 on every Linux we run on). */
const TICKS_PER_S = 100;

/** CPU time (user + system) a process has used so far, in ms; 0 when it is gone. Linux only. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command (which may hold spaces): state is field 3, utime 14, stime 15
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** The direct children of a process (Linux: /proc/<pid>/task/<tid>/children of its main thread). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU ms of a set of processes, read together. */
export const cpuOf = (pids: readonly number[]): number => pids.reduce((s, p) => s + processCpuMs(p), 0);
