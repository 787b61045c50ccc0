import { z } from 'zod';
import { IsoDateTime } from './json.js';

/**
 * Metadata of an artifact (Redis hash REDIS_KEYS.artifact(id)). A worker's artifact is `staged` until its
 * attempt commits; uploads are `pending` until completeUpload. Only `committed` artifacts are visible.
 */
export const ArtifactState = z.enum(['pending', 'staged', 'committed']);
export type ArtifactState = z.infer<typeof ArtifactState>;

export const ArtifactRecord = z.object({
  id: z.string().min(1),
  tenant: z.string().min(1),
  state: ArtifactState,
  key: z.string().min(1), // object key in the bucket
  name: z.string().min(1),
  contentType: z.string().min(1),
  size: z.number().nonnegative(),
  sha256: z.string(),
  jobId: z.string().optional(),
  nodeId: z.string().optional(),
  attempt: z.number().int().min(1).optional(),
  /** When its worker staged it (an output) or its upload was granted, by that process's clock. */
  createdAt: IsoDateTime,
  /**
   * When it was committed (its attempt's completion step, or completeUpload). Absent on records committed before
   * the field existed.
   */
  committedAt: IsoDateTime.optional(),
  /**
   * An output's place in its job's list: the seq of the job event (ARTIFACT_CREATED) its commit step appended.
   * Absent on uploads and on outputs committed before the field existed (those list by createdAt, first).
   */
  commitSeq: z.number().int().min(1).optional(),
});
export type ArtifactRecord = z.infer<typeof ArtifactRecord>;
