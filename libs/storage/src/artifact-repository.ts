import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { ArtifactRecord, type ArtifactState, REDIS_KEYS } from '#libs/contracts';
import { decodeArtifactRecord, encodeArtifactRecord } from './artifact-record-codec.js';
import { COMMIT_UPLOAD_LUA, DELETE_ARTIFACT_LUA } from './artifact-lua.js';
import { ArtifactNotFoundError, describe, MetadataUnavailableError, StorageError } from './errors.js';
import type { StorageLogger } from './logger.js';
import { artifactKey, sanitizeName, uploadKey } from './names.js';
import type { ObjectSource, ObjectStore } from './object-store.js';
import { STORAGE_KEYS } from './storage-keys.js';

export interface StageInput {
  tenant: string;
  jobId: string;
  nodeId: string;
  attempt: number;
  name: string;
  contentType: string;
  /** Bytes, a file path, or a stream (then `size` is required). */
  source: ObjectSource;
  size?: number;
}

export interface PendingUploadInput {
  tenant: string;
  name: string;
  contentType: string;
  size: number;
  /** Declared sha256 (hex), checked on commit when given. */
  sha256?: string;
}

/**
 * Artifact metadata (Redis hashes, ArtifactRecord) joined with the objects they describe. The invariant:
 * a record is written only after its object is stored, and removed before (or atomically queued with)
 * its object's removal, so no record ever points at a missing object. Only `committed` records are
 * visible; staged ones are committed by the scheduler with their attempt, pending ones by completeUpload.
 */
export class ArtifactRepository {
  constructor(
    private readonly redis: Redis,
    private readonly store: ObjectStore,
    private readonly logger: StorageLogger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async meta<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof StorageError) throw e;
      throw new MetadataUnavailableError(operation, e);
    }
  }

  /**
   * A task attempt's output: the object is stored first, then its record (state `staged`) joins the
   * attempt's set and the uncommitted index. It stays invisible until the scheduler commits the attempt.
   */
  async stage(input: StageInput): Promise<ArtifactRecord> {
    const name = sanitizeName(input.name);
    const key = artifactKey({ ...input, name });
    const stored = await this.store.put(key, input.source, {
      size: input.size,
      contentType: input.contentType,
    });
    const createdAt = this.now();
    const record: ArtifactRecord = {
      id: randomUUID(),
      tenant: input.tenant,
      state: 'staged',
      key,
      name,
      contentType: input.contentType,
      size: stored.size,
      sha256: stored.sha256,
      jobId: input.jobId,
      nodeId: input.nodeId,
      attempt: input.attempt,
      createdAt: createdAt.toISOString(),
    };
    try {
      await this.meta('stage', () =>
        this.redis
          .multi()
          .hset(REDIS_KEYS.artifact(record.id), encodeArtifactRecord(record))
          .sadd(REDIS_KEYS.attemptArtifacts(input.jobId, input.nodeId, input.attempt), record.id)
          .zadd(REDIS_KEYS.uncommittedArtifacts, createdAt.getTime(), record.id)
          .zadd(STORAGE_KEYS.artifactsByCreatedAt, createdAt.getTime(), record.id)
          .exec()
          .then(execOk),
      );
    } catch (e) {
      // No record was written: the object must not outlive this failure.
      await this.store
        .remove(key)
        .catch((removeError: unknown) =>
          this.logger.error(
            { key, err: describe(removeError) },
            'could not remove the object of a failed stage; it is orphaned',
          ),
        );
      throw e;
    }
    this.logger.debug({ artifactId: record.id, key, size: record.size }, 'artifact staged');
    return record;
  }

  /** The record in any state, or null. Internal: callers facing clients use getVisible. */
  async get(id: string): Promise<ArtifactRecord | null> {
    const hash = await this.meta('get', () => this.redis.hgetall(REDIS_KEYS.artifact(id)));
    return decodeArtifactRecord(hash);
  }

  /** The artifact when it is committed and the tenant's, else null (other tenants' artifacts do not exist). */
  async getVisible(id: string, tenant: string): Promise<ArtifactRecord | null> {
    return visible(await this.get(id), tenant);
  }

  /** Many artifacts in one pipelined round trip, in order; null where not visible to `tenant`. */
  async getManyVisible(ids: string[], tenant: string): Promise<Array<ArtifactRecord | null>> {
    return (await this.getMany(ids)).map((r) => visible(r, tenant));
  }

  /** The bytes of a visible artifact; ArtifactNotFoundError otherwise. */
  async read(id: string, tenant: string): Promise<Readable> {
    const record = await this.getVisible(id, tenant);
    if (!record) throw new ArtifactNotFoundError(id);
    return this.store.get(record.key);
  }

  /** Committed artifacts of a job that belong to `tenant`, oldest first. */
  async listForJob(jobId: string, tenant: string): Promise<ArtifactRecord[]> {
    const ids = await this.meta('listForJob', () => this.redis.smembers(REDIS_KEYS.jobArtifacts(jobId)));
    const records = await this.getMany(ids);
    return records
      .filter((r): r is ArtifactRecord => visible(r, tenant) !== null)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  }

  async getMany(ids: string[]): Promise<Array<ArtifactRecord | null>> {
    if (ids.length === 0) return [];
    const results = await this.meta('getMany', () => {
      const p = this.redis.pipeline();
      for (const id of ids) p.hgetall(REDIS_KEYS.artifact(id));
      return p.exec();
    });
    return (results ?? []).map(([err, hash]) => {
      if (err) throw new MetadataUnavailableError('getMany', err);
      return decodeArtifactRecord(hash as Record<string, string>);
    });
  }

  /** Reserves an upload: a `pending` record with the declared size (and sha256 if given) under the tenant. */
  async createPendingUpload(input: PendingUploadInput): Promise<ArtifactRecord> {
    const id = randomUUID();
    const name = sanitizeName(input.name);
    const createdAt = this.now();
    const record: ArtifactRecord = {
      id,
      tenant: input.tenant,
      state: 'pending',
      key: uploadKey({ tenant: input.tenant, artifactId: id, name }),
      name,
      contentType: input.contentType,
      size: input.size,
      sha256: input.sha256 ?? '',
      createdAt: createdAt.toISOString(),
    };
    await this.meta('createPendingUpload', () =>
      this.redis
        .multi()
        .hset(REDIS_KEYS.artifact(id), encodeArtifactRecord(record))
        .zadd(REDIS_KEYS.uncommittedArtifacts, createdAt.getTime(), id)
        .zadd(STORAGE_KEYS.artifactsByCreatedAt, createdAt.getTime(), id)
        .exec()
        .then(execOk),
    );
    return record;
  }

  /** The pending upload of `tenant`, or null. */
  async getPending(id: string, tenant: string): Promise<ArtifactRecord | null> {
    const r = await this.get(id);
    return r && r.state === 'pending' && r.tenant === tenant ? r : null;
  }

  /** Makes a verified upload visible with the measured size and sha256; null if it is no longer pending. */
  async commitUpload(
    id: string,
    tenant: string,
    measured: { size: number; sha256: string },
  ): Promise<ArtifactRecord | null> {
    const done = await this.meta('commitUpload', () =>
      this.redis.eval(
        COMMIT_UPLOAD_LUA,
        2,
        REDIS_KEYS.artifact(id),
        REDIS_KEYS.uncommittedArtifacts,
        id,
        tenant,
        String(measured.size),
        measured.sha256,
      ),
    );
    return done === 1 ? this.get(id) : null;
  }

  /**
   * Deletes the record if it is in one of `states` (and the tenant's, when given), then its object.
   * Returns false when there was nothing to delete. The object's removal is queued in the same atomic
   * step as the record's deletion, so if storage is down now a later sweep finishes it.
   */
  async delete(id: string, states: ArtifactState[], tenant?: string): Promise<boolean> {
    const record = await this.get(id);
    if (!record || !states.includes(record.state) || (tenant !== undefined && record.tenant !== tenant))
      return false;
    const artifactHash = REDIS_KEYS.artifact(id);
    const key = await this.meta('delete', () =>
      this.redis.eval(
        DELETE_ARTIFACT_LUA,
        6,
        artifactHash,
        REDIS_KEYS.uncommittedArtifacts,
        STORAGE_KEYS.artifactsByCreatedAt,
        STORAGE_KEYS.objectsToDelete,
        record.jobId ? REDIS_KEYS.jobArtifacts(record.jobId) : artifactHash,
        record.jobId && record.nodeId && record.attempt
          ? REDIS_KEYS.attemptArtifacts(record.jobId, record.nodeId, record.attempt)
          : artifactHash,
        id,
        states.join(','),
        tenant ?? '',
      ),
    );
    if (typeof key !== 'string') return false;
    await this.removeQueuedObject(key).catch((e: unknown) =>
      this.logger.warn({ key, err: describe(e) }, 'object removal deferred to the next sweep'),
    );
    return true;
  }

  /** Deletes a visible (committed) artifact of the tenant. */
  deleteVisible(id: string, tenant: string): Promise<boolean> {
    return this.delete(id, ['committed'], tenant);
  }

  private async removeQueuedObject(key: string): Promise<void> {
    await this.store.remove(key);
    await this.meta('removeQueuedObject', () => this.redis.srem(STORAGE_KEYS.objectsToDelete, key));
  }

  /** Removes up to `limit` objects whose records are gone; returns how many were removed. */
  async removeQueuedObjects(limit: number): Promise<number> {
    const keys = await this.meta('removeQueuedObjects', () =>
      this.redis.srandmember(STORAGE_KEYS.objectsToDelete, limit),
    );
    let removed = 0;
    for (const key of keys) {
      await this.removeQueuedObject(key);
      removed++;
    }
    return removed;
  }
}

function visible(record: ArtifactRecord | null, tenant: string): ArtifactRecord | null {
  return record && record.state === 'committed' && record.tenant === tenant ? record : null;
}

/** MULTI's exec answers per-command errors in its result instead of throwing. */
function execOk(results: Array<[Error | null, unknown]> | null): void {
  if (!results) throw new Error('transaction aborted');
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
}
