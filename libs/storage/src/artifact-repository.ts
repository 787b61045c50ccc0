import { randomUUID } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import {
  ArtifactRecord,
  type ArtifactState,
  MAX_NODE_TIMEOUT_SECONDS,
  REDIS_KEYS,
  artifactListPositionOf,
  jobArtifactOrderPlace,
} from '#libs/contracts';
import { decodeArtifactRecord, encodeArtifactRecord } from './artifact-record-codec.js';
import { commitUploadCopy, reserveUpload, type PendingUploadInput } from './artifact-uploads.js';
import { ArtifactNotFoundError, describe, MetadataUnavailableError, StorageError } from './errors.js';
import { VerifyingStream } from './hashing-stream.js';
import type { StorageLogger } from './logger.js';
import { artifactKey, sanitizeName } from './names.js';
import type { ObjectSource, ObjectStore, PutResult } from './object-store.js';
import { STORAGE_KEYS, tenantSweepIndexKeys } from './storage-keys.js';
import { keepStageEntry } from './stage-lease.js';
import { runStorageScript } from './storage-scripts.js';

export type { PendingUploadInput } from './artifact-uploads.js';

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
  /**
   * When the attempt must have ended (its start plus its timeout). The orphan sweep's grace counts from this
   * when it is later than the staging time, so a long attempt's early output is not swept while it runs.
   */
  attemptDeadline?: Date;
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
    private readonly options: { stageEntryRenewMs?: number } = {},
  ) {}

  /** @internal Metadata calls with Redis failures typed as MetadataUnavailableError. */
  async meta<T>(operation: string, fn: () => Promise<T>): Promise<T> {
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
   * Before the put, the object's key enters the remove-after index, pushed back while the put runs; the record's
   * step takes it out. So an object whose stager dies in between (or whose record Redis refuses) is removed by
   * the sweep, never leaked.
   */
  async stage(input: StageInput): Promise<ArtifactRecord> {
    const name = sanitizeName(input.name);
    const id = randomUUID();
    const key = artifactKey({ ...input, artifactId: id, name });
    await this.meta('stage', () =>
      this.redis.zadd(STORAGE_KEYS.removeAfter, this.now().getTime() + STAGE_PUT_GRACE_MS, key),
    );
    const stopKeeping = keepStageEntry(this.redis, key, {
      graceMs: STAGE_PUT_GRACE_MS,
      everyMs: this.options.stageEntryRenewMs ?? STAGE_ENTRY_RENEW_MS,
      now: this.now,
      logger: this.logger,
    });
    let stored: PutResult;
    try {
      stored = await this.store.put(key, input.source, {
        size: input.size,
        contentType: input.contentType,
      });
    } finally {
      stopKeeping();
    }
    const createdAt = this.now();
    const record: ArtifactRecord = {
      id,
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
    let written: unknown;
    try {
      written = await this.meta('stage', () =>
        runStorageScript(
          this.redis,
          'stageArtifact',
          [
            REDIS_KEYS.artifact(id),
            REDIS_KEYS.attemptArtifacts(input.jobId, input.nodeId, input.attempt),
            ...tenantSweepIndexKeys(record.tenant),
            STORAGE_KEYS.tenantStoredBytes(record.tenant),
            STORAGE_KEYS.tenantArtifacts(record.tenant),
            STORAGE_KEYS.removeAfter,
          ],
          [
            id,
            key,
            orphanGraceFrom(createdAt, input.attemptDeadline),
            createdAt.getTime(),
            record.size,
            record.tenant,
            ...Object.entries(encodeArtifactRecord(record)).flat(),
          ],
        ),
      );
    } catch (e) {
      await this.discardUnrecorded(key);
      throw e;
    }
    if (written !== 1) {
      await this.discardClaimed(key);
      throw new StorageError(
        'STORAGE_UNAVAILABLE',
        'the output was claimed for removal before its record was written (its put outlived its remove-after entry): its object is removed',
        true,
      );
    }
    this.logger.debug({ artifactId: record.id, key, size: record.size }, 'artifact staged');
    return record;
  }

  /**
   * After a record step that failed (when Redis failed, it may still have run): the object is removed now only
   * while its remove-after entry is there, which proves no record was written (the step takes the entry out).
   * The entry stays either way, so whatever this cannot remove (Redis or S3 down too, a timed-out put that
   * lands later) the sweep removes when it is due.
   */
  private async discardUnrecorded(key: string): Promise<void> {
    try {
      if ((await this.redis.zscore(STORAGE_KEYS.removeAfter, key)) === null) return;
      await this.store.remove(key);
    } catch (e) {
      this.logger.warn(
        { key, err: describe(e) },
        'the object of a failed stage is left for the sweep to remove',
      );
    }
  }

  /**
   * After a record step that refused (the sweep claimed the entry while the put ran, e.g. Redis unreachable for the
   * whole grace): the claim proves no record exists, and the sweep may have found nothing yet to remove, so the
   * object is removed now. If that fails, its key goes back into remove-after, due at once, for the sweep to retry.
   */
  private async discardClaimed(key: string): Promise<void> {
    try {
      await this.store.remove(key);
      return;
    } catch (e) {
      this.logger.warn(
        { key, err: describe(e) },
        'the object of a refused stage is left for the sweep to remove',
      );
    }
    try {
      await this.redis.zadd(STORAGE_KEYS.removeAfter, this.now().getTime(), key);
    } catch (e) {
      this.logger.error(
        { key, err: describe(e) },
        'the object of a refused stage could not be removed nor queued for the sweep: it is left in the bucket',
      );
    }
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

  /**
   * The bytes of a visible artifact; ArtifactNotFoundError otherwise. The stream fails at its end
   * (SizeMismatchError / ChecksumMismatchError) unless the bytes are exactly the recorded size and sha256.
   */
  async read(id: string, tenant: string): Promise<Readable> {
    const record = await this.getVisible(id, tenant);
    if (!record) throw new ArtifactNotFoundError(id);
    const source = await this.store.get(record.key);
    const verified = new VerifyingStream(record);
    pipeline(source, verified, () => undefined); // errors surface on `verified`
    return verified;
  }

  /** Bytes counted against the tenant's stored-bytes quota now. */
  async storedBytes(tenant: string): Promise<number> {
    const v = await this.meta('storedBytes', () => this.redis.get(STORAGE_KEYS.tenantStoredBytes(tenant)));
    return Math.max(0, Number(v ?? 0));
  }

  /** Artifact records (pending, staged, committed) counted against the tenant's artifact quota now. */
  async artifactCount(tenant: string): Promise<number> {
    const v = await this.meta('artifactCount', () => this.redis.get(STORAGE_KEYS.tenantArtifacts(tenant)));
    return Math.max(0, Number(v ?? 0));
  }

  /** Committed artifacts of a job that belong to `tenant`, in the job's list order (commit order: Job.artifacts). */
  async listForJob(jobId: string, tenant: string): Promise<ArtifactRecord[]> {
    const ids = await this.meta('listForJob', () => this.redis.smembers(REDIS_KEYS.jobArtifacts(jobId)));
    const records = await this.getMany(ids);
    // each record's place once (a string the index sorts by), not once per comparison
    return records
      .filter((r): r is ArtifactRecord => visible(r, tenant) !== null)
      .map((r) => ({ r, place: jobArtifactOrderPlace(artifactListPositionOf(r)) }))
      .sort((a, b) => (a.place < b.place ? -1 : a.place > b.place ? 1 : 0))
      .map(({ r }) => r);
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

  /**
   * Reserves an upload: a `pending` record with the declared size (and sha256 if given) under the tenant,
   * counted against `maxArtifacts` and its bytes against `maxStoredBytes` (0 or absent: no quota) in the same
   * atomic step. Throws StorageQuotaExceededError, having written nothing, when either does not fit.
   */
  createPendingUpload(input: PendingUploadInput): Promise<ArtifactRecord> {
    return reserveUpload(this.redis, this, input, randomUUID(), this.now());
  }

  /** The pending upload of `tenant`, or null. */
  async getPending(id: string, tenant: string): Promise<ArtifactRecord | null> {
    const r = await this.get(id);
    return r && r.state === 'pending' && r.tenant === tenant ? r : null;
  }

  /**
   * Commits a pending upload: copies its staging object to a key no upload grant covers, measures the copy
   * and, only if it is exactly `expected` (size, and sha256 when not empty), points the record at it as
   * `committed`. A mismatch throws (SizeMismatchError / ChecksumMismatchError) and removes the copy, leaving
   * the pending record as it was. Null when the upload is no longer pending (its copy is removed).
   */
  commitUpload(
    id: string,
    tenant: string,
    expected: { size: number; sha256?: string },
  ): Promise<ArtifactRecord | null> {
    return commitUploadCopy(this.redis, this.store, this, this.logger, id, tenant, expected, this.now());
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
      runStorageScript(
        this.redis,
        'deleteArtifact',
        [
          artifactHash,
          REDIS_KEYS.uncommittedArtifacts,
          STORAGE_KEYS.artifactsByCreatedAt,
          STORAGE_KEYS.objectsToDelete,
          record.jobId ? REDIS_KEYS.jobArtifacts(record.jobId) : artifactHash,
          record.jobId && record.nodeId && record.attempt
            ? REDIS_KEYS.attemptArtifacts(record.jobId, record.nodeId, record.attempt)
            : artifactHash,
          STORAGE_KEYS.removeAfter,
          STORAGE_KEYS.tenantStoredBytes(record.tenant),
          STORAGE_KEYS.tenantArtifacts(record.tenant),
          REDIS_KEYS.expiredArtifact(id),
          record.jobId ? REDIS_KEYS.jobArtifactOrder(record.jobId) : artifactHash,
          ...tenantSweepIndexKeys(record.tenant),
        ],
        [id, states.join(','), tenant ?? '', EXPIRED_OUTPUT_MARK_MS, record.tenant],
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

  /** @internal */
  async removeQueuedObject(key: string): Promise<void> {
    await this.store.remove(key);
    await this.meta('removeQueuedObject', () => this.redis.srem(STORAGE_KEYS.objectsToDelete, key));
  }

  /**
   * Moves up to `limit` objects whose time in the remove-after index has come (expired upload grants'
   * staging objects, commit copies never committed) into the removal queue; returns how many.
   */
  async claimDueRemovals(now: Date, limit: number): Promise<number> {
    const n = await this.meta('claimDueRemovals', () =>
      runStorageScript(
        this.redis,
        'claimDueRemovals',
        [STORAGE_KEYS.removeAfter, STORAGE_KEYS.objectsToDelete],
        [now.getTime(), limit],
      ),
    );
    return Number(n);
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

/**
 * How long a staged output's object may exist without its record, and without its put running, before the sweep
 * removes it. A running put pushes its entry back (puts are bounded by progress, not length), so only a stager that
 * died (or lost Redis) leaves one that old. A stage whose entry was claimed anyway writes no record and removes its
 * object: no record ever points at a removed object, and no object is left without one.
 */
export const STAGE_PUT_GRACE_MS = 3600_000;
/** How often a running put pushes its entry's due time back: well inside the grace, rare enough to cost nothing. */
const STAGE_ENTRY_RENEW_MS = STAGE_PUT_GRACE_MS / 4;
/** No attempt runs past its timeout, so no deadline lies further out than the longest one (a bogus one is capped). */
const MAX_ATTEMPT_MS = MAX_NODE_TIMEOUT_SECONDS * 1000;
/**
 * The mark of a deleted staged output outlives any completion that can still list it: its attempt may have run
 * on (a worker that sets no deadline) for up to the longest timeout, and its report may wait a while to apply.
 */
const EXPIRED_OUTPUT_MARK_MS = MAX_ATTEMPT_MS + 24 * 3600_000;

/** A staged output's score in the uncommitted index: the later of its staging and its attempt's deadline. */
function orphanGraceFrom(createdAt: Date, attemptDeadline: Date | undefined): number {
  const staged = createdAt.getTime();
  const deadline = attemptDeadline?.getTime();
  if (deadline === undefined || !Number.isFinite(deadline)) return staged;
  return Math.min(Math.max(staged, deadline), staged + MAX_ATTEMPT_MS);
}

function visible(record: ArtifactRecord | null, tenant: string): ArtifactRecord | null {
  return record && record.state === 'committed' && record.tenant === tenant ? record : null;
}
