import { performance } from 'node:perf_hooks';
import type { CompletionTracker } from '../support/completion-tracker.js';

/** What a benchmark variant offers the driver: start job `i` and say its id once it is accepted. */
export interface SubmitFn {
  (i: number): Promise<string>;
}

export interface LoadResult {
  jobs: number;
  elapsedMs: number;
  /** submit call → completion seen by the observer, per job (ms). */
  latenciesMs: number[];
}

/**
 * Keeps up to `inflight` jobs submitted and unfinished until `count` have finished. With inflight 1 this is
 * the unloaded latency; with more it is throughput (latency then includes waiting in the queue).
 */
export async function runLoad(
  submit: SubmitFn,
  tracker: CompletionTracker,
  count: number,
  inflight: number,
): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (next < count && !failed) {
      const i = next++;
      try {
        const t0 = performance.now();
        const id = await submit(i);
        latenciesMs.push((await tracker.wait(id)) - t0);
      } catch (e) {
        failed = true; // the other lanes stop submitting; the first error is the run's
        throw e;
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, lane));
  return { jobs: count, elapsedMs: performance.now() - start, latenciesMs };
}
