import type { PostPolicy } from 'minio';

/** What an upload grant is bound to. */
export interface UploadGrantOptions {
  /** The declared type: the form must send exactly this Content-Type. */
  contentType: string;
  /** The declared size: the policy's content-length-range is [size, size]. */
  size: number;
  /** After this the store refuses the form. */
  expiresAt: Date;
}

/** A presigned POST upload: send `fields` (in this order) then the bytes as the form part `file`. */
export interface PresignedPost {
  url: string;
  method: 'POST';
  fields: Record<string, string>;
  /** The signed policy's conditions (also base64 in `fields.policy`). */
  conditions: Array<Array<string | number>>;
  expiresAt: Date;
}

/**
 * The POST policy of one upload: exactly this bucket and key (no prefix: the committed key is elsewhere and
 * never covered), exactly this Content-Type, exactly `size` bytes, until `expiresAt`. The minio client
 * signs it (AWS SigV4 POST policy); S3 and MinIO refuse a form that breaks any condition.
 */
export function uploadPostPolicy(
  policy: PostPolicy,
  bucket: string,
  key: string,
  opts: UploadGrantOptions,
): PostPolicy {
  policy.setBucket(bucket);
  policy.setKey(key);
  policy.setContentType(opts.contentType);
  policy.setContentLengthRange(opts.size, opts.size);
  policy.setExpires(opts.expiresAt);
  return policy;
}
