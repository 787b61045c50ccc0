import { z } from 'zod';
import { artifactQuotaEnv, nonNegativeInt, positiveInt, s3Env } from '#libs/config';
import type { ObjectStoreConfig } from './object-store.js';
import { DEFAULT_PART_SIZE_BYTES } from './object-store.js';

/** MinIO's well-known default credentials: never accepted in production mode. */
export const MINIO_DEFAULT_CREDENTIALS = { accessKey: 'minioadmin', secretKey: 'minioadmin' } as const;
/**
 * The only access key the local S3 server (s3rver 3) knows; it checks no v4 signature, so any secret
 * works. The development fallback; refused in production mode too.
 */
export const LOCAL_S3_CREDENTIALS = { accessKey: 'S3RVER', secretKey: 'S3RVER' } as const;
const WELL_KNOWN_ACCESS_KEYS: readonly string[] = [
  MINIO_DEFAULT_CREDENTIALS.accessKey,
  LOCAL_S3_CREDENTIALS.accessKey,
];

/** Env of anything that talks to the artifact bucket (worker and artifacts subgraph). */
export const storageEnv = {
  ...s3Env,
  /** Objects up to this size are sent in one PUT; above it, multipart (MinIO/S3 only). */
  S3_PART_SIZE_BYTES: positiveInt(DEFAULT_PART_SIZE_BYTES),
  S3_RETRY_ATTEMPTS: positiveInt(4),
  /**
   * No progress for this long fails a storage try: a transfer (put, get, copy) in which no byte moves either way,
   * however long the whole takes while bytes move; any other call, in all.
   */
  S3_REQUEST_TIMEOUT_MS: z.coerce
    .number({ message: 'expected a number of milliseconds' })
    .int('expected an integer')
    .positive(
      'expected a positive integer: milliseconds a storage request may go without moving a byte (not the time for a whole transfer)',
    )
    .default(15000),
};

export const DEFAULT_ALLOWED_CONTENT_TYPES = [
  'image/png',
  'image/jpeg',
  'image/webp',
  'image/gif',
  'text/plain',
  'text/csv',
  'application/json',
  'application/octet-stream',
  'application/zip',
  'application/gzip',
];

// The default goes in before the transform (zod 4 returns a default as is, unparsed).
const contentTypeList = (fallback: string[]) =>
  z
    .string()
    .default(fallback.join(','))
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
    )
    .refine((list) => list.length > 0 && list.every((t) => /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(t)), {
      message: 'expected a comma list of content types such as image/png,text/csv',
    });

const boundedInt = (fallback: number, min: number, max: number, what: string) =>
  z.coerce
    .number({ message: 'expected a number' })
    .int('expected an integer')
    .min(min, `expected ${what} between ${min} and ${max}`)
    .max(max, `expected ${what} between ${min} and ${max}`)
    .default(fallback);

/** One POST upload and one server-side copy (CopyObject) both stop at 5 GiB on S3. */
export const MAX_SINGLE_UPLOAD_BYTES = 5 * 1024 ** 3;
// the artifact quotas' schema and defaults are shared with the jobs subgraph, which reads the same variables
export { DEFAULT_TENANT_MAX_ARTIFACTS, DEFAULT_TENANT_MAX_STORED_BYTES } from '#libs/config';

/** Env of the artifacts subgraph's upload limits, quota and sweeps. */
export const artifactPolicyEnv = {
  ARTIFACT_MAX_UPLOAD_BYTES: boundedInt(100 * 1024 * 1024, 1, MAX_SINGLE_UPLOAD_BYTES, 'bytes'),
  ARTIFACT_ALLOWED_CONTENT_TYPES: contentTypeList(DEFAULT_ALLOWED_CONTENT_TYPES),
  /** Upload grants are short-lived: a leaked one is useless soon, and the staging object is gone after. */
  ARTIFACT_UPLOAD_URL_TTL_SECONDS: boundedInt(300, 1, 3600, 'seconds'),
  /** TENANT_MAX_STORED_BYTES, TENANT_MAX_ARTIFACTS (#libs/config); 0 = no quota. */
  ...artifactQuotaEnv,
  ARTIFACT_DOWNLOAD_URL_TTL_SECONDS: positiveInt(300),
  /** 0 keeps committed artifacts forever. */
  ARTIFACT_RETENTION_DAYS: nonNegativeInt(30),
  ARTIFACT_ORPHAN_GRACE_SECONDS: positiveInt(6 * 3600),
  ARTIFACT_SWEEP_INTERVAL_SECONDS: positiveInt(300),
  ARTIFACT_SWEEP_BATCH: positiveInt(500),
};

type StorageEnv = z.infer<z.ZodObject<typeof storageEnv>>;

export class StorageConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageConfigError';
  }
}

/**
 * The ObjectStore config from parsed env. Production mode refuses missing credentials and MinIO's
 * defaults; elsewhere missing ones fall back to the local S3 server's.
 */
export function objectStoreConfigFromEnv(env: StorageEnv, production: boolean): ObjectStoreConfig {
  const accessKey = env.S3_ACCESS_KEY;
  const secretKey = env.S3_SECRET_KEY;
  if (production) {
    const missing = [!accessKey && 'S3_ACCESS_KEY', !secretKey && 'S3_SECRET_KEY'].filter(Boolean);
    if (missing.length)
      throw new StorageConfigError(
        `${missing.join(' and ')} must be set in production mode (NODE_ENV=production)`,
      );
    if (WELL_KNOWN_ACCESS_KEYS.includes(accessKey!) || secretKey === MINIO_DEFAULT_CREDENTIALS.secretKey)
      throw new StorageConfigError(
        'S3_ACCESS_KEY/S3_SECRET_KEY: default credentials (minioadmin, S3RVER) are refused in production mode',
      );
  }
  return {
    endpoint: env.S3_ENDPOINT,
    publicEndpoint: env.S3_PUBLIC_ENDPOINT,
    accessKey: accessKey ?? LOCAL_S3_CREDENTIALS.accessKey,
    secretKey: secretKey ?? LOCAL_S3_CREDENTIALS.secretKey,
    bucket: env.S3_BUCKET,
    region: env.S3_REGION,
    partSizeBytes: env.S3_PART_SIZE_BYTES,
    retry: { attempts: env.S3_RETRY_ATTEMPTS, timeoutMs: env.S3_REQUEST_TIMEOUT_MS },
  };
}
