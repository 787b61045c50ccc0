import { NODE_ID_PATTERN, Tenant } from '#libs/contracts';
import { InvalidArtifactNameError, InvalidKeySegmentError } from './errors.js';

export const MAX_ARTIFACT_NAME_LENGTH = 200;

/**
 * A file name safe to use as the last segment of an object key and to show to clients: every character
 * outside [A-Za-z0-9._-] (path separators, control characters, spaces, unicode) becomes `_`, and leading
 * dots are dropped so no name is `.`/`..` or hidden. Throws when nothing usable is left.
 */
export function sanitizeName(name: unknown): string {
  if (typeof name !== 'string') throw new InvalidArtifactNameError('an artifact name must be a string');
  const replaced = name.normalize('NFC').replace(/[^A-Za-z0-9._-]/g, '_');
  const trimmed = replaced.replace(/^\.+/, '');
  if (!/[A-Za-z0-9]/.test(trimmed))
    throw new InvalidArtifactNameError(`artifact name ${JSON.stringify(name)} has no usable characters`);
  if (trimmed.length > MAX_ARTIFACT_NAME_LENGTH)
    throw new InvalidArtifactNameError(`artifact name is longer than ${MAX_ARTIFACT_NAME_LENGTH} characters`);
  return trimmed;
}

// Ids become key segments verbatim, so they must already be safe: no separators, no dot-only segments.
const ID_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

function segment(kind: string, value: string, valid: boolean): string {
  if (!valid) throw new InvalidKeySegmentError(kind, value);
  return value;
}

const tenantSegment = (tenant: string) => segment('tenant', tenant, Tenant.safeParse(tenant).success);
const idSegment = (kind: string, id: string) =>
  segment(kind, id, typeof id === 'string' && ID_SEGMENT.test(id));

/**
 * `{tenant}/{jobId}/{nodeId}/{attempt}/{artifactId}/{name}`: where one staged task output lives. The artifact id
 * makes the key the record's own: a re-run of the same attempt (stalled redelivery) or a name put twice by one
 * attempt gets its own object, so deleting one record never removes or overwrites another's bytes. Records
 * store their key and every reader uses the stored one, so records written under the older
 * `{tenant}/{jobId}/{nodeId}/{attempt}/{name}` layout keep working; nothing re-derives a key.
 */
export function artifactKey(p: {
  tenant: string;
  jobId: string;
  nodeId: string;
  attempt: number;
  artifactId: string;
  name: string;
}): string {
  const nodeId = segment('nodeId', p.nodeId, typeof p.nodeId === 'string' && NODE_ID_PATTERN.test(p.nodeId));
  const attempt = segment('attempt', String(p.attempt), Number.isInteger(p.attempt) && p.attempt >= 1);
  const artifactId = idSegment('artifactId', p.artifactId);
  return `${tenantSegment(p.tenant)}/${idSegment('jobId', p.jobId)}/${nodeId}/${attempt}/${artifactId}/${sanitizeName(p.name)}`;
}

/**
 * `{tenant}/incoming/{artifactId}/{name}`: where a client upload is staged. The upload grant (a POST policy)
 * covers exactly this key; completeUpload copies the verified bytes to an upload's committed key.
 */
export function uploadStagingKey(p: { tenant: string; artifactId: string; name: string }): string {
  return `${tenantSegment(p.tenant)}/incoming/${idSegment('artifactId', p.artifactId)}/${sanitizeName(p.name)}`;
}

/**
 * `{tenant}/uploads/{artifactId}/{copyId}/{name}`: where a committed client upload lives. No upload grant
 * covers it, and each commit attempt copies to its own `copyId`, so concurrent completes never share an object.
 */
export function uploadCommittedKey(p: {
  tenant: string;
  artifactId: string;
  copyId: string;
  name: string;
}): string {
  return `${tenantSegment(p.tenant)}/uploads/${idSegment('artifactId', p.artifactId)}/${idSegment('copyId', p.copyId)}/${sanitizeName(p.name)}`;
}

/** `attachment; filename="…"` for a download; the name is reduced to [A-Za-z0-9._-] first. */
export function attachmentDisposition(name: string): string {
  let safe: string;
  try {
    safe = sanitizeName(name);
  } catch {
    safe = 'download';
  }
  return `attachment; filename="${safe}"`;
}
