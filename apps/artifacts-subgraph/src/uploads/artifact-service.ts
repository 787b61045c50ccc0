import type { ArtifactRecord, Identity, Scope } from '#libs/contracts';
import { hasScope } from '#libs/auth';
import { DomainError } from '#libs/errors';
import {
  attachmentDisposition,
  ChecksumMismatchError,
  ObjectNotFoundError,
  SizeMismatchError,
  StorageQuotaExceededError,
  type ArtifactRepository,
  type ObjectStore,
  type StorageLogger,
} from '#libs/storage';
import {
  checkStoredUpload,
  checkUploadRequest,
  isRejection,
  type UploadLimits,
  type UploadRequest,
} from './upload-policy.js';
import { decodeArtifactCursor } from '../reads/artifact-cursor.js';
import type {
  JobArtifactsPage,
  JobArtifactsReader,
  JobArtifactsRequest,
} from '../reads/job-artifacts-reader.js';

/** A checked `artifactsPage` request: its page size and the position it starts after. */
export type PageRequest = Omit<JobArtifactsRequest, 'jobId'>;

export interface ArtifactServiceOptions extends UploadLimits {
  uploadUrlTtlSeconds: number;
  downloadUrlTtlSeconds: number;
  /** TENANT_MAX_STORED_BYTES; 0 = no quota. */
  tenantMaxStoredBytes: number;
  /** TENANT_MAX_ARTIFACTS (records, whatever their size); 0 = no quota. */
  tenantMaxArtifacts: number;
  /** JOB_ARTIFACTS_LIST_MAX: most artifacts `Job.artifacts` answers (the first committed). */
  jobArtifactsListMax: number;
  /** JOB_ARTIFACTS_PAGE_MAX: largest `first` of `Job.artifactsPage`. */
  jobArtifactsPageMax: number;
}

/** Counters the service reports; bound to prom-client metrics by the module. */
export interface UploadMetrics {
  uploadCompleted(): void;
  uploadRejected(reason: string): void;
  quotaRefused(quota: string): void;
  /** `Job.artifacts` answered JOB_ARTIFACTS_LIST_MAX of a job that has more. */
  jobArtifactsCapped(): void;
}

/**
 * Where and how to send the bytes: a POST of `fields` (in order) and then the bytes as the form part `file`,
 * bound by a signed policy to the declared key, content type and size, until `expiresAt`.
 */
export interface UploadTicket {
  artifactId: string;
  uploadUrl: string;
  method: string;
  headers: Record<string, string>;
  fields: Record<string, string>;
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
    private readonly jobArtifacts: JobArtifactsReader,
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

  /** `Job.artifacts`: the first JOB_ARTIFACTS_LIST_MAX committed artifacts of a job (commit order). */
  artifactsListRequest(identity: Identity): PageRequest {
    requireScope(identity, 'artifacts:read');
    return { limit: this.options.jobArtifactsListMax };
  }

  /** `Job.artifacts` answered JOB_ARTIFACTS_LIST_MAX of a job that has more (the schema says so): counted. */
  artifactsListCapped(): void {
    this.metrics.jobArtifactsCapped();
  }

  /**
   * `Job.artifactsPage(first, after)` checked before anything is read: `first` defaults to 20 (or the cap, when
   * that is lower), at most JOB_ARTIFACTS_PAGE_MAX; a cursor this list never handed out is BAD_USER_INPUT.
   */
  artifactsPageRequest(identity: Identity, first?: number, after?: string): PageRequest {
    requireScope(identity, 'artifacts:read');
    const max = this.options.jobArtifactsPageMax;
    const limit = first ?? Math.min(20, max);
    if (!Number.isInteger(limit) || limit < 0 || limit > max)
      throw new DomainError('BAD_USER_INPUT', `first must be between 0 and ${max}`, { max });
    return after === undefined ? { limit } : { limit, after: decodeArtifactCursor(after) };
  }

  /**
   * Pages of many jobs' committed artifacts, the caller's tenant only (Job.artifacts and Job.artifactsPage of a
   * page of jobs, whatever their arguments), in one round trip for the whole batch.
   */
  async jobsArtifactPages(
    identity: Identity,
    requests: ReadonlyArray<PageRequest & { jobId: string }>,
  ): Promise<JobArtifactsPage[]> {
    requireScope(identity, 'artifacts:read');
    return this.jobArtifacts.pages(requests, identity.tenant);
  }

  /**
   * A short-lived presigned GET for a visible artifact, answered as a download (`Content-Disposition:
   * attachment` with its sanitised name) of its recorded type, whatever the object's own metadata says.
   */
  async downloadUrl(identity: Identity, record: ArtifactRecord): Promise<string> {
    requireScope(identity, 'artifacts:read');
    if (record.tenant !== identity.tenant || record.state !== 'committed') throw notFound(record.id);
    const get = await this.store.presignedGet(record.key, this.options.downloadUrlTtlSeconds, {
      contentType: record.contentType,
      contentDisposition: attachmentDisposition(record.name),
    });
    return get.url;
  }

  /**
   * Reserves an upload under the caller's tenant (counted against the tenant's artifact quota and its declared
   * size against the stored-bytes quota, atomically; QUOTA_EXCEEDED writes nothing) and hands out a presigned POST bound to
   * the staging key, the declared type and exactly the declared size.
   */
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
    const expiresAt = new Date(Date.now() + this.options.uploadUrlTtlSeconds * 1000);
    let record: ArtifactRecord;
    try {
      record = await this.artifacts.createPendingUpload({
        tenant: identity.tenant,
        ...checked,
        maxStoredBytes: this.options.tenantMaxStoredBytes,
        maxArtifacts: this.options.tenantMaxArtifacts,
        grantExpiresAt: expiresAt,
      });
    } catch (e) {
      if (e instanceof StorageQuotaExceededError) {
        this.metrics.quotaRefused(e.quota);
        this.logger.warn(
          { tenant: identity.tenant, quota: e.quota, max: e.max, used: e.used, requested: e.requested },
          `upload refused: ${e.quota} quota`,
        );
      }
      throw e;
    }
    const post = await this.store
      .presignedPost(record.key, { contentType: record.contentType, size: record.size, expiresAt })
      .catch(async (e: unknown) => {
        await this.artifacts.delete(record.id, ['pending'], identity.tenant); // releases the reservation
        throw e;
      });
    this.logger.info(
      { artifactId: record.id, tenant: identity.tenant, size: record.size },
      'upload reserved',
    );
    return {
      artifactId: record.id,
      uploadUrl: post.url,
      method: post.method,
      headers: {},
      fields: post.fields,
      expiresAt,
    };
  }

  /**
   * Verifies what the client uploaded against its declaration and commits it: the staging object must
   * exist with the declared size (within the limit) and type; it is then copied to a key no upload grant
   * covers, and that copy is measured (size, sha256 = the declared one when given) before the record points
   * at it. A mismatch removes the upload and its reservation and answers BAD_USER_INPUT. Completing an
   * already completed upload returns it.
   */
  async completeUpload(identity: Identity, artifactId: string): Promise<ArtifactRecord> {
    requireScope(identity, 'artifacts:write');
    const pending = await this.artifacts.getPending(artifactId, identity.tenant);
    if (!pending) return this.completed(identity, artifactId);
    const stat = await this.store.stat(pending.key);
    if (!stat) throw this.notUploaded();
    const mismatch = checkStoredUpload(pending, stat, this.options);
    if (mismatch) return this.reject(identity, artifactId, mismatch.reason, mismatch.message);
    let committed: ArtifactRecord | null;
    try {
      committed = await this.artifacts.commitUpload(artifactId, identity.tenant, {
        size: pending.size,
        sha256: pending.sha256,
      });
    } catch (e) {
      if (e instanceof ObjectNotFoundError) throw this.notUploaded();
      if (e instanceof SizeMismatchError)
        return this.reject(
          identity,
          artifactId,
          'SIZE_MISMATCH',
          `uploaded bytes differ from the declared ${pending.size}`,
        );
      if (e instanceof ChecksumMismatchError)
        return this.reject(
          identity,
          artifactId,
          'SHA256_MISMATCH',
          'the uploaded bytes do not match the declared sha256',
        );
      throw e;
    }
    if (!committed) return this.completed(identity, artifactId);
    this.metrics.uploadCompleted();
    return committed;
  }

  private async completed(identity: Identity, artifactId: string): Promise<ArtifactRecord> {
    const done = await this.artifacts.getVisible(artifactId, identity.tenant);
    if (done && !done.jobId) return done;
    throw notFound(artifactId);
  }

  private notUploaded(): DomainError {
    this.metrics.uploadRejected('NOT_UPLOADED');
    // Nothing to remove; the ticket stays valid so the client can still send the bytes.
    return new DomainError('BAD_USER_INPUT', 'nothing was uploaded for this artifact yet', {
      reason: 'NOT_UPLOADED',
    });
  }

  private async reject(
    identity: Identity,
    artifactId: string,
    reason: string,
    message: string,
  ): Promise<never> {
    await this.artifacts.delete(artifactId, ['pending'], identity.tenant);
    this.metrics.uploadRejected(reason);
    this.logger.warn({ artifactId, tenant: identity.tenant, reason }, 'upload rejected; object removed');
    throw new DomainError('BAD_USER_INPUT', message, { reason });
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
