import { performance } from 'node:perf_hooks';
import type { CompletionTracker } from '../support/completion-tracker.js';

export interface ClosedLoopResult {
  jobs: number;
  elapsedMs: number;
  /** submit call → done seen by the observer, per job (ms). */
  latenciesMs: number[];
}

/**
 * `lanes` callers, each submitting `perCall` jobs in one call (1: submitJob / Queue.add; more: submitJobs),
 * waiting until all of them are seen done, and repeating until `count` jobs are done. The first error stops
 * every lane and is the run's.
 */
export async function closedLoop(
  submit: (first: number, count: number) => Promise<string[]>,
  tracker: CompletionTracker,
  count: number,
  lanes: number,
  perCall = 1,
): Promise<ClosedLoopResult> {
  const latenciesMs: number[] = [];
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (next < count && !failed) {
      const first = next;
      const n = Math.min(perCall, count - next);
      next += n;
      try {
        const t0 = performance.now();
        const ids = await submit(first, n);
        const doneAt = await Promise.all(ids.map((id) => tracker.wait(id)));
        for (const at of doneAt) latenciesMs.push(at - t0);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(lanes, Math.ceil(count / perCall)) }, lane));
  return { jobs: count, elapsedMs: performance.now() - start, latenciesMs };
}

/**
 * Submit calls per second: `callers` callers submit `count` jobs back to back without waiting for them to run
 * (timed until the last call is answered); then every job must be seen done: from the first call to the last
 * job seen done is the open-loop end-to-end rate (how raw BullMQ is usually measured: add N, count completions).
 */
export async function submitRate(
  submit: (first: number, count: number) => Promise<string[]>,
  tracker: CompletionTracker,
  count: number,
  callers: number,
  perCall = 1,
): Promise<{ jobsPerSecond: number; callsPerSecond: number; doneJobsPerSecond: number }> {
  const ids: string[] = [];
  let next = 0;
  let calls = 0;
  const caller = async () => {
    while (next < count) {
      const first = next;
      const n = Math.min(perCall, count - next);
      next += n;
      ids.push(...(await submit(first, n)));
      calls++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: callers }, caller));
  const seconds = (performance.now() - start) / 1000;
  const doneAt = await Promise.all(ids.map((id) => tracker.wait(id)));
  const doneSeconds = (Math.max(...doneAt) - start) / 1000;
  return {
    jobsPerSecond: count / seconds,
    callsPerSecond: calls / seconds,
    doneJobsPerSecond: count / doneSeconds,
  };
}

/**
 * Open loop at `ratePerSecond` (jobs submitted on a fixed schedule whatever the answers): for each job, from
 * the moment its submit call was sent (wall clock) to its node's start (`startedAt`, wall clock, same
 * machine). Every job must be seen done.
 */
export async function pacedStartLatency(
  submit: (i: number) => Promise<string>,
  tracker: CompletionTracker,
  startedAt: ReadonlyMap<string, number>,
  count: number,
  ratePerSecond: number,
): Promise<number[]> {
  const sent: Array<Promise<{ id: string; t0: number }>> = [];
  const begin = performance.now();
  for (let i = 0; i < count; i++) {
    const due = begin + (i * 1000) / ratePerSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t0 = Date.now();
    sent.push(submit(i).then((id) => ({ id, t0 })));
  }
  const submitted = await Promise.all(sent);
  await Promise.all(submitted.map((s) => tracker.wait(s.id)));
  return submitted.map(({ id, t0 }) => {
    const started = startedAt.get(id);
    if (started === undefined) throw new Error(`job ${id} finished but its start was not seen`);
    return Math.max(0, started - t0);
  });
}
