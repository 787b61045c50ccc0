import type { Redis } from 'ioredis';
import { defineScripts } from '#libs/redis';
import { ContractViolation, parseContract, REDIS_KEYS, WorkerManifest } from '#libs/contracts';
import { CapabilityCatalog } from './capability-catalog.js';

/** The slice of a pino logger the registry needs. */
export interface RegistryLogger {
  warn(fields: object, message: string): void;
}

/** Removes ids whose manifest key is still missing at the moment of removal (lua/sremExpiredWorkers-n.lua). */
export const WORKER_REGISTRY_SCRIPTS = defineScripts({
  label: 'worker registry',
  dir: new URL('./lua/', import.meta.url),
  names: ['sremExpiredWorkers'] as const,
});

/**
 * How long the planner's catalog is reused (ms). Far below a worker's heartbeat interval, so a new or changed
 * manifest is planned against within a heartbeat; and a submit that does not plan against the cached catalog
 * is planned again against a fresh one (JobsService), so a task that just appeared is never refused.
 */
export const DEFAULT_CATALOG_TTL_MS = 1_000;

/** A catalog and when it was read (ms). */
export interface CachedCatalog {
  catalog: CapabilityCatalog;
  readAt: number;
}

/**
 * Reads live worker manifests from Redis (written by workers with a heartbeat TTL). Answers from Redis
 * at once: nothing here waits on a worker.
 */
export class WorkerRegistry {
  private cached?: CachedCatalog;
  private reading?: Promise<CachedCatalog>;

  constructor(
    private readonly redis: Redis,
    private readonly logger?: RegistryLogger,
    private readonly catalogTtlMs = DEFAULT_CATALOG_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Live manifests: members of REDIS_KEYS.workers whose REDIS_KEYS.worker(id) key still exists, parsed with
   * WorkerManifest. Expired ids are removed from the set; a manifest that does not parse is skipped and logged.
   */
  async liveWorkers(): Promise<WorkerManifest[]> {
    const ids = (await this.redis.smembers(REDIS_KEYS.workers)).sort();
    if (ids.length === 0) return [];
    const raw = await this.redis.mget(ids.map((id) => REDIS_KEYS.worker(id)));
    const live: WorkerManifest[] = [];
    const expired: string[] = [];
    ids.forEach((id, i) => {
      const json = raw[i];
      if (json === null || json === undefined) {
        expired.push(id);
        return;
      }
      try {
        const manifest = parseContract(WorkerManifest, 'WorkerManifest', JSON.parse(json));
        if (manifest.id !== id)
          throw new Error(`manifest id "${manifest.id}" differs from its key's id "${id}"`);
        live.push(manifest);
      } catch (e) {
        this.logger?.warn(
          { workerId: id, err: e instanceof ContractViolation || e instanceof Error ? e.message : String(e) },
          'worker manifest skipped: it does not parse',
        );
      }
    });
    if (expired.length > 0) {
      await WORKER_REGISTRY_SCRIPTS.run(
        this.redis,
        'sremExpiredWorkers',
        [REDIS_KEYS.workers, ...expired.map((id) => REDIS_KEYS.worker(id))],
        expired,
      );
    }
    return live;
  }

  /** A catalog of what the live workers can run now; its problems (bad hashes, conflicts) are logged. */
  async catalog(): Promise<CapabilityCatalog> {
    return (await this.freshCatalog()).catalog;
  }

  /**
   * The planner's catalog: read at most once per catalogTtlMs (concurrent callers share one read), so a submit
   * does not read and parse every manifest. `readAt` tells the caller whether it is older than its own call.
   */
  async cachedCatalog(): Promise<CachedCatalog> {
    if (this.cached && this.now() - this.cached.readAt < this.catalogTtlMs) return this.cached;
    return this.freshCatalog();
  }

  /** Reads the catalog now (joining a read already in flight) and caches it. */
  freshCatalog(): Promise<CachedCatalog> {
    if (this.reading) return this.reading;
    const readAt = this.now();
    const reading = (async () => {
      const catalog = new CapabilityCatalog(await this.liveWorkers());
      for (const problem of catalog.problems)
        this.logger?.warn({ ...problem }, 'worker task left out of the catalog');
      const read = { catalog, readAt };
      if (!this.cached || this.cached.readAt <= readAt) this.cached = read;
      return read;
    })();
    this.reading = reading;
    void reading
      .finally(() => {
        if (this.reading === reading) this.reading = undefined;
      })
      .catch(() => undefined);
    return reading;
  }
}
