import type { Redis } from 'ioredis';
import { parseContract, REDIS_KEYS, WorkerManifest } from '#libs/contracts';

export interface ManifestLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ManifestPublisherOptions {
  workerId: string;
  /** Builds the current manifest (actors, tasks, readiness...) each time it is written. */
  build: () => Omit<WorkerManifest, 'heartbeatAt'>;
  heartbeatMs: number;
  ttlMs: number;
  logger: ManifestLogger;
}

/**
 * Keeps this worker's WorkerManifest in Redis: a key with a TTL refreshed every heartbeat and rewritten
 * at once on change, plus membership of REDIS_KEYS.workers; both removed on shutdown. A reader treats an
 * expired key as a dead worker, so a SIGKILLed worker disappears within the TTL.
 */
export class ManifestPublisher {
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  private dirty = false;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly o: ManifestPublisherOptions,
  ) {}

  async start(): Promise<void> {
    await this.publish();
    this.timer = setInterval(() => this.changed(), this.o.heartbeatMs);
  }

  /** Something in the manifest changed: write it now (coalescing changes that come while writing). */
  changed(): void {
    if (this.stopped) return;
    if (this.writing) {
      this.dirty = true;
      return;
    }
    this.writing = this.publish()
      .catch((e: unknown) =>
        this.o.logger.warn(
          { err: (e as Error).message },
          'could not publish the worker manifest; will retry',
        ),
      )
      .finally(() => {
        this.writing = undefined;
        if (this.dirty) {
          this.dirty = false;
          this.changed();
        }
      });
  }

  async publish(): Promise<void> {
    const manifest = parseContract(WorkerManifest, 'WorkerManifest', {
      ...this.o.build(),
      heartbeatAt: new Date().toISOString(),
    });
    await this.redis
      .multi()
      .set(REDIS_KEYS.worker(this.o.workerId), JSON.stringify(manifest), 'PX', this.o.ttlMs)
      .sadd(REDIS_KEYS.workers, this.o.workerId)
      .exec();
  }

  /** Deregister: no reader may lease work to this worker any more. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.writing;
    await this.redis
      .multi()
      .del(REDIS_KEYS.worker(this.o.workerId))
      .srem(REDIS_KEYS.workers, this.o.workerId)
      .exec();
  }
}
