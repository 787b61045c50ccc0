import type { Redis } from 'ioredis';
import { ArtifactRepository, ObjectStore, type StorageLogger } from '#libs/storage';
import { JobArtifactsReader } from '../../reads/job-artifacts-reader.js';
import { ArtifactService } from '../../uploads/artifact-service.js';
import { buildArtifactsSubgraphSchema } from '../subgraph-schema.js';

export const quietStorageLogger: StorageLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * The artifacts subgraph's schema over `redis` for specs of its read paths (`_entities`, `Job.artifacts`):
 * those read metadata only, so its object store is never called (nothing listens on its port).
 */
export function metadataOnlySchema(redis: Redis, limits: { listMax?: number; pageMax?: number } = {}) {
  const store = new ObjectStore(
    { endpoint: 'http://127.0.0.1:9', accessKey: 'unused', secretKey: 'unused', bucket: 'unused' },
    quietStorageLogger,
  );
  const service = new ArtifactService(
    new ArtifactRepository(redis, store, quietStorageLogger),
    store,
    {
      maxBytes: 1,
      allowedContentTypes: [],
      uploadUrlTtlSeconds: 60,
      downloadUrlTtlSeconds: 60,
      tenantMaxStoredBytes: 0,
      tenantMaxArtifacts: 0,
      jobArtifactsListMax: limits.listMax ?? 50,
      jobArtifactsPageMax: limits.pageMax ?? 100,
    },
    {
      uploadCompleted: () => undefined,
      uploadRejected: () => undefined,
      quotaRefused: () => undefined,
      jobArtifactsCapped: () => undefined,
    },
    quietStorageLogger,
    new JobArtifactsReader(redis),
  );
  return buildArtifactsSubgraphSchema(service);
}
