import type { ArtifactRecord, Identity, Scope } from '#libs/contracts';
import { hasScope } from '#libs/auth';
import { DomainError } from '#libs/errors';
import type { ArtifactRepository, ObjectStore, StorageLogger } from '#libs/storage';
import {
  checkStoredUpload,
  checkUploadRequest,
  isRejection,
  type UploadLimits,
  type UploadRequest,
} from './upload-policy.js';

export interface ArtifactServiceOptions extends UploadLimits {
  uploadUrlTtlSeconds: number;
  downloadUrlTtlSeconds: number;
}

/** Counters the service reports; bound to prom-client metrics by the module. */
export interface UploadMetrics {
  uploadCompleted(): void;
  uploadRejected(reason: string): void;
}

export interface UploadTicket {
  artifactId: string;
  uploadUrl: string;
  method: string;
  headers: Record<string, string>;
  expiresAt: Date;
}

/**
 * The artifacts subgraph's use cases, free of GraphQL and Nest. Every call is scoped to the caller's
 * tenant: another tenant's artifact is indistinguishable from a missing one (NOT_FOUND).
 */
export class ArtifactService {
  constructor(
    private readonly artifacts: ArtifactRepository,
    private readonly store: ObjectStore,
    private readonly options: ArtifactServiceOptions,
    private readonly metrics: UploadMetrics,
    private readonly logger: StorageLogger,
  ) {}

  async artifact(identity: Identity, id: string): Promise<ArtifactRecord | null> {
    requireScope(identity, 'artifacts:read');
    return this.artifacts.getVisible(id, identity.tenant);
  }

  /** A batch of the caller's visible artifacts (null where not), one round trip (`_entities`). */
  async artifactsByIds(identity: Identity, ids: string[]): Promise<Array<ArtifactRecord | null>> {
    requireScope(identity, 'artifacts:read');
    return this.artifacts.getManyVisible(ids, identity.tenant);
  }

  /** Committed artifacts of a job, the caller's tenant only (Job.artifacts). */
  async jobArtifacts(identity: Identity, jobId: string): Promise<ArtifactRecord[]> {
    requireScope(identity, 'artifacts:read');
    return this.artifacts.listForJob(jobId, identity.tenant);
  }

  /** A short-lived presigned GET for a visible artifact. */
  async downloadUrl(identity: Identity, record: ArtifactRecord): Promise<string> {
    requireScope(identity, 'artifacts:read');
    if (record.tenant !== identity.tenant || record.state !== 'committed') throw notFound(record.id);
    return (await this.store.presignedGet(record.key, this.options.downloadUrlTtlSeconds)).url;
  }

  /** Reserves an upload under the caller's tenant and hands out a presigned PUT. */
  async createUpload(identity: Identity, input: UploadRequest): Promise<UploadTicket> {
    requireScope(identity, 'artifacts:write');
    const checked = checkUploadRequest(input, this.options);
    if (isRejection(checked)) {
      this.metrics.uploadRejected(checked.reason);
      throw new DomainError('BAD_USER_INPUT', checked.message, {
        reason: checked.reason,
        field: checked.field,
      });
    }
    const record = await this.artifacts.createPendingUpload({ tenant: identity.tenant, ...checked });
    const put = await this.store.presignedPut(
      record.key,
      this.options.uploadUrlTtlSeconds,
      record.contentType,
    );
    this.logger.info(
      { artifactId: record.id, tenant: identity.tenant, size: record.size },
      'upload reserved',
    );
    return {
      artifactId: record.id,
      uploadUrl: put.url,
      method: put.method,
      headers: put.headers,
      expiresAt: put.expiresAt,
    };
  }

  /**
   * Verifies what the client uploaded against its declaration (exists, size, limit, content type,
   * sha256 measured from the stored bytes) and commits it. A mismatch removes the object and the
   * reservation and answers BAD_USER_INPUT. Completing an already completed upload returns it.
   */
  async completeUpload(identity: Identity, artifactId: string): Promise<ArtifactRecord> {
    requireScope(identity, 'artifacts:write');
    const pending = await this.artifacts.getPending(artifactId, identity.tenant);
    if (!pending) {
      const done = await this.artifacts.getVisible(artifactId, identity.tenant);
      if (done && !done.jobId) return done;
      throw notFound(artifactId);
    }
    const stat = await this.store.stat(pending.key);
    if (!stat) {
      this.metrics.uploadRejected('NOT_UPLOADED');
      // Nothing to remove; the ticket stays valid so the client can still send the bytes.
      throw new DomainError('BAD_USER_INPUT', 'nothing was uploaded for this artifact yet', {
        reason: 'NOT_UPLOADED',
      });
    }
    let mismatch = checkStoredUpload(pending, stat, this.options);
    let measured: { size: number; sha256: string } | undefined;
    if (!mismatch) {
      measured = await this.store.digest(pending.key);
      mismatch = checkStoredUpload(pending, { ...measured, contentType: stat.contentType }, this.options);
    }
    if (mismatch) {
      await this.artifacts.delete(artifactId, ['pending'], identity.tenant);
      this.metrics.uploadRejected(mismatch.reason);
      this.logger.warn(
        { artifactId, tenant: identity.tenant, reason: mismatch.reason },
        'upload rejected; object removed',
      );
      throw new DomainError('BAD_USER_INPUT', mismatch.message, { reason: mismatch.reason });
    }
    const committed = await this.artifacts.commitUpload(artifactId, identity.tenant, measured!);
    const result = committed ?? (await this.artifacts.getVisible(artifactId, identity.tenant));
    if (!result) throw notFound(artifactId);
    if (committed) this.metrics.uploadCompleted();
    return result;
  }

  /** Deletes a visible artifact of the caller's tenant (record first, then its object). */
  async deleteArtifact(identity: Identity, id: string): Promise<boolean> {
    requireScope(identity, 'artifacts:write');
    if (!(await this.artifacts.deleteVisible(id, identity.tenant))) throw notFound(id);
    return true;
  }
}

function requireScope(identity: Identity, scope: Scope): void {
  if (!hasScope(identity, scope))
    throw new DomainError('FORBIDDEN', `this operation needs the ${scope} scope`, { scope });
}

const notFound = (id: string) => new DomainError('NOT_FOUND', `artifact ${id} not found`);
