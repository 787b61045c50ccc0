import { z } from 'zod';

/**
 * An integer an opaque cursor carries (an epoch ms, a sequence number), as decimal text: at most 16 digits and a
 * safe integer, so a forged one cannot reach Redis or a comparison as Infinity, an exponent or a rounded value.
 */
export const CursorInteger = z
  .string()
  .regex(/^\d{1,16}$/, 'expected a decimal integer of at most 16 digits')
  .transform(Number)
  .pipe(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER));

/** A job id as cursors carry it (ids are UUIDs; bounded so a forged one stays small). */
export const CursorJobId = z.string().regex(/^[\w-]{1,64}$/, 'expected a job id');

/** What a `jobs(after:)` cursor names: a place in a tenant's job list (newest first). */
export const JobListPosition = z.object({ createdMs: CursorInteger, jobId: CursorJobId });
export type JobListPosition = z.infer<typeof JobListPosition>;
