import { Client } from 'minio';
import type { RetryPolicy } from './retry.js';
import { trackedTransport } from './tracked-transport.js';

export interface ObjectStoreConfig {
  /** S3 API endpoint as this process reaches it, e.g. http://127.0.0.1:9000 */
  endpoint: string;
  /** Endpoint clients reach, used in presigned URLs; defaults to `endpoint`. */
  publicEndpoint?: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region?: string;
  /**
   * Objects up to this size go up in one PUT (the local S3 server does no multipart); larger ones use
   * multipart, which needs MinIO or S3. The minio client buffers a single-part upload in memory.
   */
  partSizeBytes?: number;
  retry?: Partial<RetryPolicy>;
}

export function makeClient(
  endpoint: string,
  cfg: ObjectStoreConfig,
  region: string,
  partSize: number,
  /** No byte moved for this long ends a request (S3_REQUEST_TIMEOUT_MS). */
  idleMs: number,
): Client {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`S3 endpoint must be http(s): ${endpoint}`);
  const useSSL = url.protocol === 'https:';
  return new Client({
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: cfg.accessKey,
    secretKey: cfg.secretKey,
    // A fixed region: presigning and requests never look the bucket region up over the network.
    region,
    pathStyle: true,
    partSize,
    transport: trackedTransport(url.protocol, idleMs),
    // Retries are ours (bounded, with backoff, typed); the client's own would multiply them.
    retryOptions: { disableRetry: true },
  });
}
