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

/** The last millisecond a Date can hold as an ISO string of a four-digit year (9999-12-31T23:59:59.999Z). */
const MAX_ISO_MS = 253_402_300_799_999;

const ArtifactName = z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'expected an artifact name');
const ArtifactId = z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/, 'expected an artifact id');

/**
 * What a `Job.artifactsPage(after:)` cursor names: a place in a job's committed artifacts, which are in commit
 * order (libs/redis/src/lua/includes/artifact-order.lua). An artifact the scheduler committed has a place by its
 * `commitSeq` (the job event seq of its ARTIFACT_CREATED), then id: `{ commitSeq, id }`. One committed by an
 * older release (no commitSeq) has its place by (createdAt, name, id), before every `commitSeq` one, as that
 * release listed it: `{ createdMs, name, id }` (the cursors that release answered name such places). Names and ids
 * as storage makes them (sanitised names of at most 200 characters of `[A-Za-z0-9._-]`, id segments of at most
 * 128), so none holds the cursor's `:` separator.
 */
export const ArtifactListPosition = z.union([
  z.object({ commitSeq: CursorInteger.pipe(z.number().min(1)), id: ArtifactId }).strict(),
  z
    .object({ createdMs: CursorInteger.pipe(z.number().max(MAX_ISO_MS)), name: ArtifactName, id: ArtifactId })
    .strict(),
]);
export type ArtifactListPosition = z.infer<typeof ArtifactListPosition>;
