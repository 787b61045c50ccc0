/**
 * Typed storage errors. Each carries a stable `code` and says whether retrying can help, so callers (the
 * worker failing an attempt, the subgraph mapping to `extensions.code`) decide without parsing messages.
 */
export type StorageErrorCode =
  | 'STORAGE_UNAVAILABLE' // the object store (or Redis metadata) could not be reached after bounded retries
  | 'STORAGE_ACCESS_DENIED' // credentials refused or bucket not writable: a configuration problem
  | 'STORAGE_ERROR' // the store answered with an error that retrying will not fix
  | 'OBJECT_NOT_FOUND'
  | 'ARTIFACT_NOT_FOUND'
  | 'INVALID_ARTIFACT_NAME'
  | 'INVALID_KEY_SEGMENT'
  | 'SIZE_MISMATCH'
  | 'CHECKSUM_MISMATCH' // the bytes read do not hash to the recorded/declared sha256
  | 'QUOTA_EXCEEDED'; // a tenant's storage quota (stored bytes, artifact count) refused a reservation

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

export class StorageUnavailableError extends StorageError {
  constructor(
    readonly operation: string,
    cause: unknown,
    attempts: number,
  ) {
    super(
      'STORAGE_UNAVAILABLE',
      `object storage unavailable during ${operation} after ${attempts} attempt(s): ${describe(cause)}`,
      true,
      {
        cause,
      },
    );
    this.name = 'StorageUnavailableError';
  }
}

export class StorageAccessDeniedError extends StorageError {
  constructor(operation: string, cause: unknown) {
    super('STORAGE_ACCESS_DENIED', `object storage refused ${operation}: ${describe(cause)}`, false, {
      cause,
    });
    this.name = 'StorageAccessDeniedError';
  }
}

export class ObjectNotFoundError extends StorageError {
  constructor(readonly key: string) {
    super('OBJECT_NOT_FOUND', `no object at ${key}`, false);
    this.name = 'ObjectNotFoundError';
  }
}

export class ArtifactNotFoundError extends StorageError {
  constructor(readonly artifactId: string) {
    super('ARTIFACT_NOT_FOUND', `artifact ${artifactId} not found`, false);
    this.name = 'ArtifactNotFoundError';
  }
}

export class InvalidArtifactNameError extends StorageError {
  constructor(message: string) {
    super('INVALID_ARTIFACT_NAME', message, false);
    this.name = 'InvalidArtifactNameError';
  }
}

export class InvalidKeySegmentError extends StorageError {
  constructor(segment: string, value: unknown) {
    super('INVALID_KEY_SEGMENT', `invalid ${segment} for an object key: ${JSON.stringify(value)}`, false);
    this.name = 'InvalidKeySegmentError';
  }
}

export class SizeMismatchError extends StorageError {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super('SIZE_MISMATCH', `expected ${expected} bytes, got ${actual}`, false);
    this.name = 'SizeMismatchError';
  }
}

export class ChecksumMismatchError extends StorageError {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super('CHECKSUM_MISMATCH', `expected sha256 ${expected}, got ${actual}`, false);
    this.name = 'ChecksumMismatchError';
  }
}

/**
 * The per-tenant storage quotas, by their name in `QUOTA_EXCEEDED`'s `extensions.limit` (docs/security.md):
 * `storedBytes` (TENANT_MAX_STORED_BYTES) and `artifacts`, records (TENANT_MAX_ARTIFACTS).
 */
export type StorageQuota = 'storedBytes' | 'artifacts';

const QUOTA_UNITS: Record<StorageQuota, string> = { storedBytes: 'bytes', artifacts: 'artifacts' };

/** Reserving `requested` more would take the tenant over one of its storage quotas; nothing was written. */
export class StorageQuotaExceededError extends StorageError {
  constructor(
    readonly tenant: string,
    readonly quota: StorageQuota,
    readonly max: number,
    readonly used: number,
    readonly requested: number,
  ) {
    const unit = QUOTA_UNITS[quota];
    super(
      'QUOTA_EXCEEDED',
      `storage quota exceeded: ${used} of ${max} ${unit} used, ${requested} more requested`,
      false,
    );
    this.name = 'StorageQuotaExceededError';
  }
}

export const isStorageError = (e: unknown): e is StorageError => e instanceof StorageError;

export function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' && !e.message.includes(code)
      ? `${code}: ${e.message}`
      : e.message || e.name;
  }
  return String(e);
}

/** Redis (the artifact metadata) failed; retryable like storage itself. */
export class MetadataUnavailableError extends StorageError {
  constructor(operation: string, cause: unknown) {
    super(
      'STORAGE_UNAVAILABLE',
      `artifact metadata (Redis) unavailable during ${operation}: ${describe(cause)}`,
      true,
      { cause },
    );
    this.name = 'MetadataUnavailableError';
  }
}
