import { MAX_SUBMIT_BATCH } from '#libs/contracts';
import { badInput } from '#libs/errors';
import type { JobReadView } from '../scheduler/job-views.js';

/** Most inputs one submitJobs call takes; more is BAD_USER_INPUT and nothing is submitted. */
export { MAX_SUBMIT_BATCH };

/** One input's outcome, at the input's index: its job, or why it was refused (nothing of it written). */
export type BatchItemOutcome = { ok: true; view: JobReadView } | { ok: false; error: unknown };

export interface BatchSubmitSteps {
  /**
   * Plans, quota-checks and writes one input exactly as submitJob does (idempotency key included); throws a
   * DomainError (BAD_USER_INPUT, INVALID_GRAPH, QUOTA_EXCEEDED) when the input is refused.
   */
  submitOne(rawInput: unknown): Promise<{ jobId: string; view?: JobReadView }>;
  /** The tenant's jobs by id, in one round trip (for the inputs whose write did not answer the job). */
  views(jobIds: readonly string[]): Promise<Array<JobReadView | null>>;
}

/**
 * submitJobs: every input on its own, as if each were a submitJob call, but all at once: their Redis scripts
 * go out together on one connection (ioredis pipelines them), so a batch costs a few round
 * trips, not one per input, and the jobs of the batch are read back in a single round trip. One input's
 * refusal changes nothing for the others. Too many inputs: BAD_USER_INPUT before anything is written.
 */
export async function submitBatch(
  steps: BatchSubmitSteps,
  rawInputs: readonly unknown[],
): Promise<BatchItemOutcome[]> {
  if (!Array.isArray(rawInputs)) throw badInput('inputs must be a list');
  if (rawInputs.length > MAX_SUBMIT_BATCH)
    throw badInput(`submitJobs takes at most ${MAX_SUBMIT_BATCH} inputs, got ${rawInputs.length}`, {
      max: MAX_SUBMIT_BATCH,
      requested: rawInputs.length,
    });
  if (rawInputs.length === 0) return [];
  const written = await Promise.allSettled(rawInputs.map((raw) => steps.submitOne(raw)));
  const views = new Map<string, JobReadView | null>();
  for (const w of written)
    if (w.status === 'fulfilled' && w.value.view) views.set(w.value.jobId, w.value.view);
  // jobs the write did not answer (e.g. an idempotency key's existing job): read once each, all together
  const missing = [
    ...new Set(
      written.flatMap((w) => (w.status === 'fulfilled' && !views.has(w.value.jobId) ? [w.value.jobId] : [])),
    ),
  ];
  if (missing.length > 0) {
    const read = await steps.views(missing);
    missing.forEach((id, i) => views.set(id, read[i] ?? null));
  }
  return written.map((w): BatchItemOutcome => {
    if (w.status === 'rejected') return { ok: false, error: w.reason };
    const view = w.value.view ?? views.get(w.value.jobId);
    // written a moment ago: only a purge between the write and the read could lose it
    if (!view) return { ok: false, error: new Error(`job ${w.value.jobId} vanished right after its submit`) };
    return { ok: true, view };
  });
}
