import type { StorageLogger, StorageMetrics } from './logger.js';
import { ObjectStore, type ObjectStoreConfig } from './object-store.js';

/** The artifact bucket's client. No I/O here: call `start()` (bootstrap + preflight) when the process boots. */
export function createObjectStore(
  cfg: ObjectStoreConfig,
  logger: StorageLogger,
  metrics?: StorageMetrics,
): ObjectStore {
  return new ObjectStore(cfg, logger, metrics);
}
