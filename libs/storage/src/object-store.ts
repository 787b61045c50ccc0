import { randomUUID, createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { type Client, CopyDestinationOptions, CopySourceOptions } from 'minio';
import { makeClient, type ObjectStoreConfig } from './s3-client.js';
import { describe, ObjectNotFoundError, SizeMismatchError, StorageError } from './errors.js';
import { HashingStream } from './hashing-stream.js';
import { collect, grantsAnonymousAccess, typedBody } from './object-store-helpers.js';
import { ProgressGuard } from './progress-timeout.js';
import { runTry } from './tracked-transport.js';
import { type PresignedPost, type UploadGrantOptions, uploadPostPolicy } from './upload-grant.js';
export type { ObjectStoreConfig } from './s3-client.js';
import type { StorageLogger, StorageMetrics } from './logger.js';
import { NO_METRICS } from './logger.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy, type TryBound, withStorageRetry } from './retry.js';

/**
 * A file its caller opened (and checked through this descriptor): stored from the descriptor, never reopened by
 * name, so what was checked is what is stored. The caller closes it.
 */
export interface OpenFile {
  readonly handle: FileHandle;
}

const isOpenFile = (body: OpenFile | Readable): body is OpenFile =>
  !(body instanceof Readable) && typeof (body as Partial<OpenFile>).handle?.createReadStream === 'function';

/** A body to store: bytes in memory, a file path, an open file, or a stream (then `size` is required). */
export type ObjectSource = Buffer | string | OpenFile | Readable;

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
  method: 'GET';
  headers: Record<string, string>;
  expiresAt: Date;
}

/** Headers a presigned GET makes the store answer with (signed as response-* query parameters). */
export interface DownloadHeaders {
  contentType: string;
  contentDisposition: string;
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

/**
 * The bucket that holds every artifact, over the S3 API (minio client). Network failures are retried
 * with capped backoff and then surface as StorageUnavailableError (retryable). Calls that move a body (put,
 * get, copy) fail when no byte moves for `retry.timeoutMs`, never for taking long; other calls get that long
 * per try. A try given up ends its requests.
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
    this.retry = { ...DEFAULT_RETRY_POLICY, ...cfg.retry };
    this.client = makeClient(cfg.endpoint, cfg, region, this.partSize, this.retry.timeoutMs);
    this.presigner = cfg.publicEndpoint
      ? makeClient(cfg.publicEndpoint, cfg, region, this.partSize, this.retry.timeoutMs)
      : this.client;
  }

  private async run<T>(
    operation: string,
    fn: () => Promise<T>,
    policy: RetryPolicy = this.retry,
    bound: TryBound = 'call',
  ): Promise<T> {
    try {
      return await withStorageRetry(
        operation,
        (signal) => runTry(signal, fn),
        policy,
        {
          onRetry: (op, attempt, error, delayMs) =>
            this.logger.warn(
              { op, attempt, delayMs, err: describe(error) },
              'object storage call failed; retrying',
            ),
        },
        bound,
      );
    } catch (e) {
      // A missing object is an answer, not a storage failure.
      if (!isNotFound(e)) this.failed(operation, e);
      throw e;
    }
  }

  private failed(operation: string, e: unknown): void {
    const code = e instanceof StorageError ? e.code : String((e as { code?: unknown }).code ?? 'UNKNOWN');
    this.metrics.storageError(operation, code);
    this.logger.error({ op: operation, code, err: describe(e) }, 'object storage call failed');
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
      const exists = await withStorageRetry(
        'readiness',
        (signal) => runTry(signal, () => this.client.bucketExists(this.bucket)),
        quick,
      );
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
   * fits one part is buffered first (the client would anyway) so it can be retried. However large, it fails
   * only when no byte moves for `retry.timeoutMs` (the source's or the network's), as StorageUnavailableError.
   */
  async put(
    key: string,
    body: ObjectSource,
    opts: { size?: number; contentType: string },
  ): Promise<PutResult> {
    const meta = { 'Content-Type': opts.contentType };
    if (Buffer.isBuffer(body)) return this.putBuffer(key, body, opts.size, meta);
    if (typeof body === 'string') {
      // opened once: the size measured and the bytes sent (on every retry) are one file's, whatever the name becomes
      const handle = await open(body, 'r');
      try {
        return await this.putFile(key, handle, opts.size, meta);
      } finally {
        await handle.close();
      }
    }
    if (isOpenFile(body)) return this.putFile(key, body.handle, opts.size, meta);
    if (opts.size === undefined)
      throw new StorageError('STORAGE_ERROR', 'a stream needs its size to be stored', false);
    if (opts.size <= this.partSize) {
      const size = opts.size;
      const guarded = new ProgressGuard(body, this.retry.timeoutMs, 'putObject');
      const bytes = await this.run(
        'putObject',
        () => collect(guarded, size),
        { ...this.retry, attempts: 1 },
        'progress',
      );
      return this.putBuffer(key, bytes, size, meta);
    }
    return this.putStream(key, () => body, opts.size, meta, false);
  }

  private async putFile(
    key: string,
    handle: FileHandle,
    expected: number | undefined,
    meta: Record<string, string>,
  ): Promise<PutResult> {
    const { size } = await handle.stat();
    if (expected !== undefined && expected !== size) throw new SizeMismatchError(expected, size);
    // positioned reads from 0 on each try; the handle stays open for the next one
    const read = () => handle.createReadStream({ start: 0, autoClose: false });
    return this.putStream(key, read, size, meta, true);
  }

  private async putBuffer(
    key: string,
    body: Buffer,
    size: number | undefined,
    meta: Record<string, string>,
  ): Promise<PutResult> {
    if (size !== undefined && size !== body.length) throw new SizeMismatchError(size, body.length);
    const sha256 = createHash('sha256').update(body).digest('hex');
    await this.upload(key, body.length, () =>
      this.client.putObject(this.bucket, key, body, body.length, meta).then(() => undefined),
    );
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
      pipeline(open(), hasher, () => undefined); // a source error reaches the body, which fails the try
      const body = new ProgressGuard(hasher, this.retry.timeoutMs, 'putObject');
      // the client may never settle when its body fails (minio's multipart reader); the try ends anyway
      const bodyFailed = new Promise<never>((_, reject) => body.once('error', reject));
      try {
        await Promise.race([this.client.putObject(this.bucket, key, body, size, meta), bodyFailed]);
      } finally {
        body.destroy();
      }
    };
    await this.upload(key, size, attempt, reopenable ? this.retry : { ...this.retry, attempts: 1 });
    const h = hasher!;
    if (h.bytes !== size) {
      await this.remove(key).catch(() => undefined);
      throw new SizeMismatchError(size, h.bytes);
    }
    return { size, sha256: h.sha256 };
  }

  /**
   * One putObject, retried by `policy`. Above a part the client uploads in parts and, when that fails, leaves
   * the parts in the bucket (minio 8's uploadStream never aborts; a retry resumes the same upload): billed,
   * and invisible to the sweeper, which lists objects. So a put that failed for good aborts its upload here.
   */
  private async upload(
    key: string,
    size: number,
    attempt: () => Promise<void>,
    policy: RetryPolicy = this.retry,
  ): Promise<void> {
    try {
      await this.run('putObject', attempt, policy, 'progress');
    } catch (e) {
      if (size > this.partSize) await this.abortIncompleteUploads(key);
      throw e;
    }
  }

  /**
   * Aborts the incomplete multipart uploads of `key` (ours are of one put each: keys are unique). When that
   * fails (storage down), the parts stay until the bucket's stale-upload expiry (docs/deployment.md): logged.
   */
  private async abortIncompleteUploads(key: string): Promise<void> {
    try {
      const aborted = await this.run(
        'abortIncompleteUpload',
        async () => {
          const ids: string[] = [];
          // bounded: one per failed put normally (the client resumes a key's upload instead of starting another)
          for (let id = await this.client.findUploadId(this.bucket, key); id && ids.length < 10;) {
            await this.client.abortMultipartUpload(this.bucket, key, id);
            ids.push(id);
            id = await this.client.findUploadId(this.bucket, key);
          }
          return ids;
        },
        { ...this.retry, attempts: Math.min(this.retry.attempts, 2) }, // the put's error waits on it: short
      );
      if (aborted.length > 0)
        this.logger.warn(
          { key, uploadIds: aborted },
          'aborted the incomplete multipart upload of a failed put',
        );
    } catch (e) {
      this.logger.warn(
        { key, err: describe(e) },
        "the incomplete multipart upload of a failed put could not be aborted: its parts are left in the bucket until the store's stale-upload expiry",
      );
    }
  }

  /**
   * The object's bytes as a stream; ObjectNotFoundError when absent. The stream fails with
   * StorageUnavailableError when its transfer breaks, or when no byte arrives for `retry.timeoutMs` (a reader
   * that stops reading that long loses it too); destroying it ends the request.
   */
  async get(key: string): Promise<Readable> {
    let body: Readable;
    try {
      body = await this.run(
        'getObject',
        () => this.client.getObject(this.bucket, key),
        this.retry,
        'progress',
      );
    } catch (e) {
      if (isNotFound(e)) throw new ObjectNotFoundError(key);
      throw e;
    }
    return typedBody(body, 'getObject', (e) => this.failed('getObject', e));
  }

  async readAll(key: string): Promise<Buffer> {
    const stream = await this.get(key);
    return collect(stream);
  }

  /**
   * Streams the object once to get its exact size and sha256 (what was really stored). With `maxBytes`, stops
   * with SizeMismatchError as soon as more arrive, so an oversized object costs no more than the limit.
   */
  async digest(key: string, maxBytes?: number): Promise<PutResult> {
    const stream = await this.get(key);
    const hasher = new HashingStream(maxBytes);
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

  /**
   * A browser-style POST upload (form fields + `file`) bound by a signed policy to exactly this key, this
   * content type and exactly `size` bytes, valid until `expiresAt`. S3 and MinIO enforce the policy; the local
   * S3 server stores whatever is posted (it checks no policy), so callers verify what arrived anyway.
   */
  async presignedPost(key: string, opts: UploadGrantOptions): Promise<PresignedPost> {
    const policy = uploadPostPolicy(this.presigner.newPostPolicy(), this.bucket, key, opts);
    const { postURL, formData } = await this.presigner.presignedPostPolicy(policy);
    return {
      url: postURL,
      method: 'POST',
      fields: formData,
      conditions: policy.policy.conditions,
      expiresAt: opts.expiresAt,
    };
  }

  /** A short-lived URL to GET the object; with `headers`, the store answers with that type and disposition. */
  async presignedGet(
    key: string,
    expirySeconds: number,
    headers?: DownloadHeaders,
  ): Promise<PresignedRequest> {
    const response: Record<string, string> = headers
      ? {
          'response-content-type': headers.contentType,
          'response-content-disposition': headers.contentDisposition,
        }
      : {};
    const url = await this.presigner.presignedGetObject(this.bucket, key, expirySeconds, response);
    return { url, method: 'GET', headers: {}, expiresAt: new Date(Date.now() + expirySeconds * 1000) };
  }

  /** Server-side copy of `source` to `target`, whose metadata is replaced by the given type and disposition. */
  async copy(source: string, target: string, headers: DownloadHeaders): Promise<void> {
    try {
      await this.run(
        'copyObject',
        () =>
          this.client.copyObject(
            new CopySourceOptions({ Bucket: this.bucket, Object: source }),
            new CopyDestinationOptions({
              Bucket: this.bucket,
              Object: target,
              MetadataDirective: 'REPLACE',
              Headers: {
                'Content-Type': headers.contentType,
                'Content-Disposition': headers.contentDisposition,
              },
            }),
          ),
        this.retry,
        'progress', // how long a server-side copy takes grows with the object: bounded by the store going silent
      );
    } catch (e) {
      if (isNotFound(e)) throw new ObjectNotFoundError(source);
      throw e;
    }
  }
}
