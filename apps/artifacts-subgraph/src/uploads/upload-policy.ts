import { InvalidArtifactNameError, sanitizeName } from '#libs/storage';

/** Limits on client uploads (ARTIFACT_MAX_UPLOAD_BYTES, ARTIFACT_ALLOWED_CONTENT_TYPES). */
export interface UploadLimits {
  maxBytes: number;
  allowedContentTypes: readonly string[];
}

export interface UploadRequest {
  name: string;
  contentType: string;
  size: number;
  sha256?: string | null;
}

export interface AcceptedUpload {
  name: string;
  contentType: string;
  size: number;
  sha256?: string;
}

/** Why an upload was refused; `field` names the input field at fault. */
export type UploadRejection = {
  reason: 'INVALID_NAME' | 'CONTENT_TYPE_NOT_ALLOWED' | 'TOO_LARGE' | 'INVALID_SIZE' | 'INVALID_SHA256';
  field: string;
  message: string;
};

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Media type without parameters, lowercased: "Text/CSV; charset=utf-8" → "text/csv". */
export const baseContentType = (contentType: string): string =>
  contentType.split(';')[0]!.trim().toLowerCase();

/** Checks a createUpload request against the limits; returns the normalised request or why it is refused. */
export function checkUploadRequest(
  req: UploadRequest,
  limits: UploadLimits,
): AcceptedUpload | UploadRejection {
  let name: string;
  try {
    name = sanitizeName(req.name);
  } catch (e) {
    if (e instanceof InvalidArtifactNameError)
      return { reason: 'INVALID_NAME', field: 'name', message: e.message };
    throw e;
  }
  const contentType = baseContentType(req.contentType);
  if (!limits.allowedContentTypes.includes(contentType))
    return {
      reason: 'CONTENT_TYPE_NOT_ALLOWED',
      field: 'contentType',
      message: `content type ${JSON.stringify(req.contentType)} is not allowed; allowed: ${limits.allowedContentTypes.join(', ')}`,
    };
  if (!Number.isSafeInteger(req.size) || req.size < 0)
    return {
      reason: 'INVALID_SIZE',
      field: 'size',
      message: 'size must be a whole number of bytes, 0 or more',
    };
  if (req.size > limits.maxBytes)
    return {
      reason: 'TOO_LARGE',
      field: 'size',
      message: `size ${req.size} exceeds the limit of ${limits.maxBytes} bytes`,
    };
  let sha256: string | undefined;
  if (req.sha256 !== undefined && req.sha256 !== null) {
    sha256 = req.sha256.trim().toLowerCase();
    if (!SHA256_HEX.test(sha256))
      return { reason: 'INVALID_SHA256', field: 'sha256', message: 'sha256 must be 64 hex characters' };
  }
  return { name, contentType, size: req.size, ...(sha256 ? { sha256 } : {}) };
}

export const isRejection = (v: AcceptedUpload | UploadRejection): v is UploadRejection => 'reason' in v;

/** What was declared at createUpload, against what is stored. */
export interface StoredUpload {
  size: number;
  contentType: string | undefined;
  sha256?: string; // measured; absent when only the stat is known
}

export type UploadMismatch = {
  reason: 'SIZE_MISMATCH' | 'TOO_LARGE' | 'CONTENT_TYPE_MISMATCH' | 'SHA256_MISMATCH';
  message: string;
};

/** The first way the stored object differs from the declaration, or null when it matches. */
export function checkStoredUpload(
  declared: { size: number; contentType: string; sha256: string },
  stored: StoredUpload,
  limits: UploadLimits,
): UploadMismatch | null {
  if (stored.size > limits.maxBytes)
    return {
      reason: 'TOO_LARGE',
      message: `uploaded ${stored.size} bytes, over the limit of ${limits.maxBytes}`,
    };
  if (stored.size !== declared.size)
    return {
      reason: 'SIZE_MISMATCH',
      message: `uploaded ${stored.size} bytes but declared ${declared.size}`,
    };
  if (stored.contentType !== undefined && baseContentType(stored.contentType) !== declared.contentType)
    return {
      reason: 'CONTENT_TYPE_MISMATCH',
      message: `uploaded as ${JSON.stringify(stored.contentType)} but declared ${declared.contentType}`,
    };
  if (stored.sha256 !== undefined && declared.sha256 !== '' && stored.sha256 !== declared.sha256)
    return { reason: 'SHA256_MISMATCH', message: 'the uploaded bytes do not match the declared sha256' };
  return null;
}
