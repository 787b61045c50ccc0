import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ArtifactRecord, REDIS_KEYS } from '#libs/contracts';
import { encodeArtifactRecord } from './artifact-record-codec.js';
import type { ArtifactRepository } from './artifact-repository.js';
import {
  ChecksumMismatchError,
  describe,
  ObjectNotFoundError,
  SizeMismatchError,
  StorageError,
  StorageQuotaExceededError,
  type StorageQuota,
} from './errors.js';
import type { StorageLogger } from './logger.js';
import { attachmentDisposition, sanitizeName, uploadCommittedKey, uploadStagingKey } from './names.js';
import type { ObjectStore } from './object-store.js';
import { STORAGE_KEYS, tenantSweepIndexKeys } from './storage-keys.js';
import { runStorageScript } from './storage-scripts.js';

export interface PendingUploadInput {
  tenant: string;
  name: string;
  contentType: string;
  size: number;
  /** Declared sha256 (hex), checked on commit when given. */
  sha256?: string;
  /** The tenant's stored-bytes quota; 0 or absent: none. */
  maxStoredBytes?: number;
  /** The tenant's artifact-count quota (records: pending uploads, staged and committed); 0 or absent: none. */
  maxArtifacts?: number;
  /**
   * When the upload grant handed out for this record stops working. Until then the client can still write
   * the staging object, so once the record stops being pending the staging object is removed again then.
   */
  grantExpiresAt?: Date;
}

/**
 * How long a commit's copy may stay unreferenced before the sweep removes it: far longer than a copy and
 * one read of the largest upload take, so only a crash between copy and commit leaves one that old.
 */
export const COMMIT_COPY_GRACE_MS = 3600_000;

/** The quota checks and the pending record in one atomic step (reserveUpload-7.lua). */
export async function reserveUpload(
  redis: Redis,
  repo: ArtifactRepository,
  input: PendingUploadInput,
  id: string,
  now: Date,
): Promise<ArtifactRecord> {
  const name = sanitizeName(input.name);
  const record: ArtifactRecord = {
    id,
    tenant: input.tenant,
    state: 'pending',
    key: uploadStagingKey({ tenant: input.tenant, artifactId: id, name }),
    name,
    contentType: input.contentType,
    size: input.size,
    sha256: input.sha256 ?? '',
    createdAt: now.toISOString(),
  };
  const fields = encodeArtifactRecord(record);
  // Not part of ArtifactRecord (decoding drops it): read only by the delete and commit scripts.
  if (input.grantExpiresAt) fields.grantExpiresAt = String(input.grantExpiresAt.getTime());
  const maxBytes = input.maxStoredBytes ?? 0;
  const maxArtifacts = input.maxArtifacts ?? 0;
  const result = (await repo.meta('createPendingUpload', () =>
    runStorageScript(
      redis,
      'reserveUpload',
      [
        REDIS_KEYS.artifact(id),
        ...tenantSweepIndexKeys(input.tenant),
        STORAGE_KEYS.tenantStoredBytes(input.tenant),
        STORAGE_KEYS.tenantArtifacts(input.tenant),
      ],
      [id, now.getTime(), input.size, maxBytes, maxArtifacts, input.tenant, ...Object.entries(fields).flat()],
    ),
  )) as [1] | [0, StorageQuota, string];
  if (result[0] !== 1) {
    const [, quota, used] = result;
    throw quota === 'artifacts'
      ? new StorageQuotaExceededError(input.tenant, quota, maxArtifacts, Number(used), 1)
      : new StorageQuotaExceededError(input.tenant, quota, maxBytes, Number(used), input.size);
  }
  return record;
}

/** See ArtifactRepository.commitUpload. */
export async function commitUploadCopy(
  redis: Redis,
  store: ObjectStore,
  repo: ArtifactRepository,
  logger: StorageLogger,
  id: string,
  tenant: string,
  expected: { size: number; sha256?: string },
  now: Date,
): Promise<ArtifactRecord | null> {
  const pending = await repo.getPending(id, tenant);
  if (!pending) return null;
  // A fresh key per attempt: two completes racing never write the same object, and only one commits.
  const copyKey = uploadCommittedKey({ tenant, artifactId: id, copyId: randomUUID(), name: pending.name });
  // Registered before the copy exists, so a crash from here on leaves nothing once the grace has passed.
  await repo.meta('commitUpload', () =>
    redis.zadd(STORAGE_KEYS.removeAfter, now.getTime() + COMMIT_COPY_GRACE_MS, copyKey),
  );
  let measured: { size: number; sha256: string };
  try {
    await store.copy(pending.key, copyKey, {
      contentType: pending.contentType,
      contentDisposition: attachmentDisposition(pending.name),
    });
    // The copy is what gets committed: measure it, not the staging object the client can still rewrite.
    measured = await store.digest(copyKey, expected.size);
    if (measured.size !== expected.size) throw new SizeMismatchError(expected.size, measured.size);
    if (expected.sha256 && measured.sha256 !== expected.sha256)
      throw new ChecksumMismatchError(expected.sha256, measured.sha256);
  } catch (e) {
    await discardCopy(redis, repo, logger, copyKey);
    // a complete racing this one committed first and removed the staging object: this one lost, as below
    if (e instanceof ObjectNotFoundError && !(await repo.getPending(id, tenant))) return null;
    throw e;
  }
  // Not discarded when this call fails: the commit may have happened; if not, the sweep removes the copy.
  const outcome = await repo.meta('commitUpload', () =>
    runStorageScript(
      redis,
      'commitUpload',
      [
        REDIS_KEYS.artifact(id),
        REDIS_KEYS.uncommittedArtifacts,
        STORAGE_KEYS.tenantUncommittedArtifacts(tenant),
        STORAGE_KEYS.uncommittedArtifactTenants,
        STORAGE_KEYS.removeAfter,
        STORAGE_KEYS.tenantStoredBytes(tenant),
      ],
      [id, tenant, measured.size, measured.sha256, copyKey, now.toISOString()],
    ),
  );
  if (outcome !== 1) {
    await discardCopy(redis, repo, logger, copyKey);
    if (outcome === -1)
      throw new StorageError('STORAGE_UNAVAILABLE', 'the commit took too long and its copy expired', true);
    return null;
  }
  // The grant may still write the staging object until it expires; the sweep removes it again then.
  await store
    .remove(pending.key)
    .catch((e: unknown) =>
      logger.warn({ key: pending.key, err: describe(e) }, 'staging object removal deferred to the sweep'),
    );
  return repo.get(id);
}

/** Queues an unreferenced copy for removal (atomically out of remove-after), then removes it. */
async function discardCopy(
  redis: Redis,
  repo: ArtifactRepository,
  logger: StorageLogger,
  copyKey: string,
): Promise<void> {
  try {
    await redis
      .multi()
      .zrem(STORAGE_KEYS.removeAfter, copyKey)
      .sadd(STORAGE_KEYS.objectsToDelete, copyKey)
      .exec();
    await repo.removeQueuedObject(copyKey);
  } catch (e) {
    logger.warn({ key: copyKey, err: describe(e) }, 'uncommitted copy removal deferred to the sweep');
  }
}
