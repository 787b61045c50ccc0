/** CPU time of processes (and process trees) from /proc/<pid>/stat, in milliseconds. Linux only. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (getconf CLK_TCK; 100 on Linux almost everywhere). */
const TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcStat {
  ppid: number;
  /** utime + stime, in ticks. */
  ownTicks: number;
  /** utime + stime + cutime + cstime, in ticks: own CPU plus that of reaped children. */
  ticks: number;
}

function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone
  }
  // the command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] = state (field 3), so field n is f[n - 3]
  const num = (field: number) => Number(f[field - 3]);
  return { ppid: num(4), ownTicks: num(14) + num(15), ticks: num(14) + num(15) + num(16) + num(17) };
}

/** User + system CPU time a process itself has used so far, in ms (10 ms resolution); 0 when it is gone. */
export function processCpuMs(pid: number): number {
  const s = readStat(pid);
  return s ? (s.ownTicks / TICKS_PER_S) * 1000 : 0;
}

/** CPU ms of a set of processes, read together. */
export const cpuOf = (pids: readonly number[]): number => pids.reduce((s, p) => s + processCpuMs(p), 0);

/** Snapshot of several named processes; `since` gives the CPU ms each used after the snapshot. */
export function cpuSnapshot(pids: Record<string, number>): { since(): Record<string, number> } {
  const before = Object.fromEntries(Object.entries(pids).map(([n, p]) => [n, processCpuMs(p)] as const));
  return {
    since: () =>
      Object.fromEntries(Object.entries(pids).map(([n, p]) => [n, processCpuMs(p) - before[n]!] as const)),
  };
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

/**
 * CPU milliseconds used so far by each named process and all of its descendants (a worker's task runners
 * count for the worker), a descendant that is itself one of the roots excepted. Live descendants count with their own times; exited ones through their parent's
 * cutime/cstime once reaped, so a runner that exits between two samples is not lost.
 */
export function sampleProcessTrees(roots: Record<string, number>): Record<string, number> {
  const stats = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) stats.set(Number(name), s);
  }
  const children = new Map<number, number[]>();
  for (const [pid, s] of stats) {
    const list = children.get(s.ppid) ?? [];
    list.push(pid);
    children.set(s.ppid, list);
  }
  const result: Record<string, number> = {};
  const rootPids = new Set(Object.values(roots));
  for (const [name, root] of Object.entries(roots)) {
    let ticks = 0;
    const stack = [root];
    while (stack.length > 0) {
      const pid = stack.pop()!;
      ticks += stats.get(pid)?.ticks ?? 0;
      // another root's tree is its own (the launcher is every app's parent)
      stack.push(...(children.get(pid) ?? []).filter((c) => !rootPids.has(c)));
    }
    result[name] = (ticks / TICKS_PER_S) * 1000;
  }
  return result;
}

/** CPU ms per named process between two samples. */
export function cpuDelta(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));
}

/** pid → name for each root and its live descendants ("gpu-worker child"): profiles are named after them. */
export function namesOfProcessTrees(roots: Record<string, number>): Map<number, string> {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) parent.set(Number(name), s.ppid);
  }
  const names = new Map<number, string>();
  for (const [name, pid] of Object.entries(roots)) names.set(pid, name);
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      const root = Object.entries(roots).find(([, r]) => r === p);
      if (root && !names.has(pid)) {
        names.set(pid, `${root[0]} child`);
        break;
      }
    }
  }
  return names;
}

/** Where a process's CPU went: user and system ms, and how often its threads slept or were preempted. */
export interface ProcessDetail {
  userMs: number;
  sysMs: number;
  /** Voluntary context switches of the main thread: each is one sleep of the event loop (a wake-up follows). */
  loopSleeps: number;
  /** Involuntary context switches of the main thread: preempted while running (CPU contention). */
  loopPreempted: number;
  /** Voluntary context switches of the other threads (libuv pool, V8 helpers). */
  otherThreadSleeps: number;
}

const ctxt = (statusText: string, field: string): number =>
  Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(statusText)?.[1] ?? 0);

/** ProcessDetail of each named process itself (not its tree), read now; a gone process reads as zeros. */
export function sampleProcessDetail(pids: Record<string, number>): Record<string, ProcessDetail> {
  const result: Record<string, ProcessDetail> = {};
  for (const [name, pid] of Object.entries(pids)) {
    const d: ProcessDetail = { userMs: 0, sysMs: 0, loopSleeps: 0, loopPreempted: 0, otherThreadSleeps: 0 };
    try {
      const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      d.userMs = (Number(f[14 - 3]) / TICKS_PER_S) * 1000;
      d.sysMs = (Number(f[15 - 3]) / TICKS_PER_S) * 1000;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        if (Number(tid) === pid) {
          d.loopSleeps = ctxt(status, 'voluntary_ctxt_switches');
          d.loopPreempted = ctxt(status, 'nonvoluntary_ctxt_switches');
        } else d.otherThreadSleeps += ctxt(status, 'voluntary_ctxt_switches');
      }
    } catch {
      // gone, or a thread that ended between the listing and the read
    }
    result[name] = d;
  }
  return result;
}
