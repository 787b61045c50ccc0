import { IdentityError } from '#libs/auth';
import { DomainError } from '#libs/errors';
import {
  MetadataUnavailableError,
  StorageError,
  StorageQuotaExceededError,
  type StorageErrorCode,
} from '#libs/storage';

/**
 * The one place this subgraph turns its lower-level errors into API errors (DomainError, whose code
 * becomes `extensions.code` in formatGraphQLError). Anything else passes through and is reported as an
 * internal error.
 */
export function toApiError(error: unknown): unknown {
  if (error instanceof IdentityError)
    return new DomainError('UNAUTHENTICATED', error.message, { reason: error.reason });
  if (error instanceof MetadataUnavailableError)
    return new DomainError('UNAVAILABLE', 'artifact metadata is unavailable; retry later', {
      reason: 'METADATA_UNAVAILABLE',
      retryable: true,
    });
  if (error instanceof StorageQuotaExceededError)
    return new DomainError('QUOTA_EXCEEDED', error.message, {
      limit: error.quota,
      max: error.max,
      used: error.used,
      requested: error.requested,
    });
  if (!(error instanceof StorageError)) return error;
  const code: StorageErrorCode = error.code;
  switch (code) {
    case 'STORAGE_UNAVAILABLE':
      return new DomainError('UNAVAILABLE', 'artifact storage is unavailable; retry later', {
        reason: 'STORAGE_UNAVAILABLE',
        retryable: true,
      });
    case 'ARTIFACT_NOT_FOUND':
    case 'OBJECT_NOT_FOUND':
      return new DomainError('NOT_FOUND', error.message);
    case 'INVALID_ARTIFACT_NAME':
    case 'INVALID_KEY_SEGMENT':
    case 'SIZE_MISMATCH':
    case 'CHECKSUM_MISMATCH':
      return new DomainError('BAD_USER_INPUT', error.message, { reason: code });
    case 'QUOTA_EXCEEDED': // a StorageQuotaExceededError, mapped above with its numbers
      return new DomainError('QUOTA_EXCEEDED', error.message);
    case 'STORAGE_ACCESS_DENIED':
    case 'STORAGE_ERROR':
      // A misconfiguration or a broken store: the client can do nothing about it; details stay in the logs.
      return new DomainError('UNAVAILABLE', 'artifact storage failed', { reason: code, retryable: false });
  }
}
