import { randomUUID, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat as statFile } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { Client } from 'minio';
import { describe, ObjectNotFoundError, SizeMismatchError, StorageError } from './errors.js';
import { HashingStream } from './hashing-stream.js';
import type { StorageLogger, StorageMetrics } from './logger.js';
import { NO_METRICS } from './logger.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy, withStorageRetry } from './retry.js';

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

/** A body to store: bytes in memory, a file path, or a stream (then `size` is required). */
export type ObjectSource = Buffer | string | Readable;

export interface PutResult {
  size: number;
  sha256: string;
}

export interface ObjectInfo {
  size: number;
  contentType: string | undefined;
  etag: string;
  lastModified: Date;
}

export interface PresignedRequest {
  url: string;
  method: 'PUT' | 'GET';
  headers: Record<string, string>;
  expiresAt: Date;
}

export type ReadinessState = { ready: true } | { ready: false; reason: string };

export const DEFAULT_PART_SIZE_BYTES = 256 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;

const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchObject']);
const isNotFound = (e: unknown) => NOT_FOUND_CODES.has(String((e as { code?: unknown } | null)?.code));
// Answers of servers (the local S3 server among them) that have no bucket-policy API.
const NO_POLICY_API = new Set(['NotImplemented', 'MethodNotAllowed', 'XNotImplemented']);
const NO_POLICY = new Set(['NoSuchBucketPolicy']);

function makeClient(endpoint: string, cfg: ObjectStoreConfig, region: string, partSize: number): Client {
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
    // Retries are ours (bounded, with backoff, typed); the client's own would multiply them.
    retryOptions: { disableRetry: true },
  });
}

/**
 * The bucket that holds every artifact, over the S3 API (minio client). Network failures are retried
 * with capped backoff and then surface as StorageUnavailableError (retryable).
 */
export class ObjectStore {
  readonly bucket: string;
  private readonly client: Client;
  private readonly presigner: Client;
  private readonly retry: RetryPolicy;
  private readonly partSize: number;
  private readiness: ReadinessState = { ready: false, reason: 'storage not checked yet' };
  private bootstrapped = false;

  constructor(
    cfg: ObjectStoreConfig,
    private readonly logger: StorageLogger,
    private readonly metrics: StorageMetrics = NO_METRICS,
  ) {
    const region = cfg.region ?? 'us-east-1';
    this.partSize = Math.min(
      MAX_PART_SIZE,
      Math.max(MIN_PART_SIZE, cfg.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES),
    );
    this.bucket = cfg.bucket;
    this.client = makeClient(cfg.endpoint, cfg, region, this.partSize);
    this.presigner = cfg.publicEndpoint
      ? makeClient(cfg.publicEndpoint, cfg, region, this.partSize)
      : this.client;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...cfg.retry };
  }

  private async run<T>(
    operation: string,
    fn: () => Promise<T>,
    policy: RetryPolicy = this.retry,
  ): Promise<T> {
    try {
      return await withStorageRetry(operation, fn, policy, {
        onRetry: (op, attempt, error, delayMs) =>
          this.logger.warn(
            { op, attempt, delayMs, err: describe(error) },
            'object storage call failed; retrying',
          ),
      });
    } catch (e) {
      // A missing object is an answer, not a storage failure.
      if (!isNotFound(e)) {
        const code = e instanceof StorageError ? e.code : String((e as { code?: unknown }).code ?? 'UNKNOWN');
        this.metrics.storageError(operation, code);
        this.logger.error({ op: operation, code, err: describe(e) }, 'object storage call failed');
      }
      throw e;
    }
  }

  /** Creates the bucket if missing and makes sure no policy grants anonymous access. */
  async bootstrap(): Promise<void> {
    const exists = await this.run('bucketExists', () => this.client.bucketExists(this.bucket));
    if (!exists) {
      await this.run('makeBucket', async () => {
        try {
          await this.client.makeBucket(this.bucket);
        } catch (e) {
          // Another replica made it first.
          const code = (e as { code?: string }).code;
          if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw e;
        }
      });
      this.logger.info({ bucket: this.bucket }, 'created bucket');
    }
    await this.enforcePrivatePolicy();
    this.bootstrapped = true;
  }

  private async enforcePrivatePolicy(): Promise<void> {
    let policy: string;
    try {
      policy = await this.run('getBucketPolicy', () => this.client.getBucketPolicy(this.bucket));
    } catch (e) {
      const code = String((e as { code?: unknown }).code);
      if (NO_POLICY.has(code)) return; // no policy at all: private
      if (NO_POLICY_API.has(code)) {
        this.logger.warn(
          { bucket: this.bucket },
          'object store has no bucket-policy API (the local S3 server); objects stay private by default ACL. Production needs MinIO or S3',
        );
        return;
      }
      throw e;
    }
    if (policy && grantsAnonymousAccess(policy)) {
      this.logger.warn({ bucket: this.bucket }, 'bucket policy granted anonymous access; removing it');
      await this.run('deleteBucketPolicy', () => this.client.setBucketPolicy(this.bucket, ''));
    }
  }

  /** Proves the store is reachable, the credentials valid and the bucket writable: write, read back, delete. */
  async preflight(): Promise<void> {
    const key = `.preflight/${randomUUID()}`;
    const body = Buffer.from(`switchyard preflight ${new Date().toISOString()}`);
    await this.put(key, body, { contentType: 'text/plain' });
    const read = await this.readAll(key);
    await this.remove(key);
    if (!read.equals(body))
      throw new StorageError('STORAGE_ERROR', 'preflight read back different bytes', false);
  }

  /** bootstrap + preflight, recording the outcome for readiness; logs why when it fails. Never throws. */
  async start(): Promise<ReadinessState> {
    try {
      await this.bootstrap();
      await this.preflight();
      this.setReadiness({ ready: true });
    } catch (e) {
      this.setReadiness({ ready: false, reason: `storage preflight failed: ${describe(e)}` });
    }
    return this.readiness;
  }

  private setReadiness(next: ReadinessState): void {
    const changed =
      next.ready !== this.readiness.ready ||
      (!next.ready && !this.readiness.ready && next.reason !== this.readiness.reason);
    this.readiness = next;
    if (!changed) return;
    if (next.ready) this.logger.info({ bucket: this.bucket }, 'object storage ready');
    else this.logger.error({ bucket: this.bucket, reason: next.reason }, 'object storage not ready');
  }

  get state(): ReadinessState {
    return this.readiness;
  }

  /**
   * For a readiness probe: throws (with the reason) unless the store answers now. One quick bucket check
   * without retries; when storage was not ready, a successful check is followed by a full start
   * (bootstrap + preflight) before it counts as ready again.
   */
  async checkReady(): Promise<void> {
    const quick: RetryPolicy = {
      ...this.retry,
      attempts: 1,
      timeoutMs: Math.min(this.retry.timeoutMs, 1500),
    };
    try {
      const exists = await withStorageRetry('readiness', () => this.client.bucketExists(this.bucket), quick);
      if (!exists && this.bootstrapped) {
        this.logger.warn({ bucket: this.bucket }, 'bucket disappeared; bootstrapping again');
        this.bootstrapped = false;
      }
    } catch (e) {
      const reason = `object storage unreachable: ${describe(e)}`;
      this.setReadiness({ ready: false, reason });
      throw new Error(reason, { cause: e });
    }
    if (!this.readiness.ready || !this.bootstrapped) await this.start();
    if (!this.readiness.ready) throw new Error(this.readiness.reason);
  }

  /**
   * Stores `body` under `key`, computing sha256 and size while the bytes stream. A stream of a size that
   * fits one part is buffered first (the client would anyway) so it can be retried.
   */
  async put(
    key: string,
    body: ObjectSource,
    opts: { size?: number; contentType: string },
  ): Promise<PutResult> {
    const meta = { 'Content-Type': opts.contentType };
    if (Buffer.isBuffer(body)) return this.putBuffer(key, body, opts.size, meta);
    if (typeof body === 'string') {
      const { size } = await statFile(body);
      if (opts.size !== undefined && opts.size !== size) throw new SizeMismatchError(opts.size, size);
      return this.putStream(key, () => createReadStream(body), size, meta, true);
    }
    if (opts.size === undefined)
      throw new StorageError('STORAGE_ERROR', 'a stream needs its size to be stored', false);
    if (opts.size <= this.partSize)
      return this.putBuffer(key, await collect(body, opts.size), opts.size, meta);
    return this.putStream(key, () => body, opts.size, meta, false);
  }

  private async putBuffer(
    key: string,
    body: Buffer,
    size: number | undefined,
    meta: Record<string, string>,
  ): Promise<PutResult> {
    if (size !== undefined && size !== body.length) throw new SizeMismatchError(size, body.length);
    const sha256 = createHash('sha256').update(body).digest('hex');
    await this.run('putObject', () => this.client.putObject(this.bucket, key, body, body.length, meta));
    return { size: body.length, sha256 };
  }

  private async putStream(
    key: string,
    open: () => Readable,
    size: number,
    meta: Record<string, string>,
    reopenable: boolean,
  ): Promise<PutResult> {
    let hasher: HashingStream | undefined;
    const attempt = async () => {
      hasher = new HashingStream();
      const source = open();
      let sourceError: unknown;
      pipeline(source, hasher, (err) => {
        if (err) sourceError = err;
      });
      try {
        await this.client.putObject(this.bucket, key, hasher, size, meta);
      } catch (e) {
        throw sourceError ?? e;
      }
      if (sourceError) throw sourceError;
    };
    await this.run('putObject', attempt, reopenable ? this.retry : { ...this.retry, attempts: 1 });
    const h = hasher!;
    if (h.bytes !== size) {
      await this.remove(key).catch(() => undefined);
      throw new SizeMismatchError(size, h.bytes);
    }
    return { size, sha256: h.sha256 };
  }

  /** The object's bytes as a stream; ObjectNotFoundError when absent. */
  async get(key: string): Promise<Readable> {
    try {
      return await this.run('getObject', () => this.client.getObject(this.bucket, key));
    } catch (e) {
      if (isNotFound(e)) throw new ObjectNotFoundError(key);
      throw e;
    }
  }

  async readAll(key: string): Promise<Buffer> {
    const stream = await this.get(key);
    return collect(stream);
  }

  /** Streams the object once to get its exact size and sha256 (what was really stored). */
  async digest(key: string): Promise<PutResult> {
    const stream = await this.get(key);
    const hasher = new HashingStream();
    hasher.resume(); // only the digest is wanted; let the bytes flow through
    await new Promise<void>((resolve, reject) =>
      pipeline(stream, hasher, (err) => (err ? reject(err) : resolve())),
    );
    return { size: hasher.bytes, sha256: hasher.sha256 };
  }

  /** Size and content type of the object, or null when it does not exist. */
  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const s = await this.run('statObject', () => this.client.statObject(this.bucket, key));
      const meta = s.metaData as Record<string, string | undefined>;
      return { size: s.size, contentType: meta['content-type'], etag: s.etag, lastModified: s.lastModified };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  /** Deletes the object; deleting a missing object succeeds. */
  async remove(key: string): Promise<void> {
    try {
      await this.run('removeObject', () => this.client.removeObject(this.bucket, key));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** A URL the client PUTs the bytes to, with the headers it must send. */
  async presignedPut(key: string, expirySeconds: number, contentType: string): Promise<PresignedRequest> {
    const url = await this.presigner.presignedUrl('PUT', this.bucket, key, expirySeconds);
    return {
      url,
      method: 'PUT',
      headers: { 'Content-Type': contentType },
      expiresAt: new Date(Date.now() + expirySeconds * 1000),
    };
  }

  /** A short-lived URL to GET the object. */
  async presignedGet(key: string, expirySeconds: number): Promise<PresignedRequest> {
    const url = await this.presigner.presignedUrl('GET', this.bucket, key, expirySeconds);
    return { url, method: 'GET', headers: {}, expiresAt: new Date(Date.now() + expirySeconds * 1000) };
  }
}

function grantsAnonymousAccess(policy: string): boolean {
  try {
    const doc = JSON.parse(policy) as { Statement?: Array<{ Effect?: string; Principal?: unknown }> };
    return (doc.Statement ?? []).some((s) => {
      if (s.Effect !== 'Allow') return false;
      const p = s.Principal as string | { AWS?: string | string[] } | undefined;
      if (p === '*') return true;
      const aws = typeof p === 'object' && p ? p.AWS : undefined;
      return aws === '*' || (Array.isArray(aws) && aws.includes('*'));
    });
  } catch {
    return true; // unreadable: treat as unsafe and replace
  }
}

/** Reads a stream to the end; with `limit`, stops with SizeMismatchError as soon as it is exceeded. */
async function collect(stream: Readable, limit?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += b.length;
    if (limit !== undefined && total > limit) {
      stream.destroy();
      throw new SizeMismatchError(limit, total);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, total);
}
