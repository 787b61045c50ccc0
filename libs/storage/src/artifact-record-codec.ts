import { ArtifactRecord, parseContract } from '#libs/contracts';

/**
 * The one encoding of ArtifactRecord as a Redis hash (REDIS_KEYS.artifact(id)): every field a string,
 * numbers as decimal strings, optional fields absent (never empty strings). Lua scripts (the scheduler's
 * commit) may read `state`, `tenant`, `jobId`, `nodeId`, `attempt`, `createdAt`, `name` and set `state` to
 * `committed`, `committedAt` and `commitSeq`.
 */
export function encodeArtifactRecord(record: ArtifactRecord): Record<string, string> {
  const r = parseContract(ArtifactRecord, 'ArtifactRecord', record);
  const fields: Record<string, string> = {
    id: r.id,
    tenant: r.tenant,
    state: r.state,
    key: r.key,
    name: r.name,
    contentType: r.contentType,
    size: String(r.size),
    sha256: r.sha256,
    createdAt: r.createdAt,
  };
  if (r.jobId !== undefined) fields.jobId = r.jobId;
  if (r.nodeId !== undefined) fields.nodeId = r.nodeId;
  if (r.attempt !== undefined) fields.attempt = String(r.attempt);
  if (r.committedAt !== undefined) fields.committedAt = r.committedAt;
  if (r.commitSeq !== undefined) fields.commitSeq = String(r.commitSeq);
  return fields;
}

const DECIMAL = /^(0|[1-9]\d*)$/;
const toNumber = (v: string | undefined): number | string | undefined =>
  v !== undefined && DECIMAL.test(v) ? Number(v) : v;

/** The record stored in a hash, or null when the hash is empty (HGETALL of a missing key). */
export function decodeArtifactRecord(hash: Record<string, string>): ArtifactRecord | null {
  if (Object.keys(hash).length === 0) return null;
  const { size, attempt, commitSeq, ...rest } = hash;
  const raw: Record<string, unknown> = { ...rest, size: toNumber(size) };
  if (attempt !== undefined) raw.attempt = toNumber(attempt);
  if (commitSeq !== undefined) raw.commitSeq = toNumber(commitSeq);
  return parseContract(ArtifactRecord, 'ArtifactRecord', raw);
}
