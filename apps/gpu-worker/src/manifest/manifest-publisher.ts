import type { Redis } from 'ioredis';
import { parseContract, REDIS_KEYS, WorkerManifest } from '#libs/contracts';

const WorkerManifestHead = WorkerManifest.omit({ tasks: true });

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
  /**
   * How long an activity change (an actor going BUSY/IDLE, its current attempt) may wait before it is
   * written, so a stream of short attempts costs a write per this period, not two or three per attempt.
   */
  activityDelayMs: number;
  logger: ManifestLogger;
}

/**
 * Keeps this worker's WorkerManifest in Redis: a key with a TTL refreshed every heartbeat and rewritten
 * at once on change (readiness, quarantine, restarts, tasks), or within `activityDelayMs` on an activity
 * change (BUSY/IDLE and the current attempt), plus membership of REDIS_KEYS.workers; both removed on
 * shutdown. A reader treats an expired key as a dead worker, so a SIGKILLed worker disappears within the
 * TTL. The task list is validated and serialised once per change of it, not on every write.
 */
export class ManifestPublisher {
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  private dirty = false;
  private stopped = false;
  private activityTimer?: NodeJS.Timeout;
  private tasksCache?: { tasks: readonly unknown[]; json: string };

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
    clearTimeout(this.activityTimer); // this write carries the activity too
    this.activityTimer = undefined;
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

  /** An actor's activity changed (BUSY/IDLE, current attempt): written within `activityDelayMs`. */
  activity(): void {
    if (this.stopped || this.activityTimer) return;
    this.activityTimer = setTimeout(() => {
      this.activityTimer = undefined;
      this.changed();
    }, this.o.activityDelayMs);
  }

  async publish(): Promise<void> {
    const { tasks, ...rest } = this.o.build();
    // Everything but the task list is checked on each write; the list (the bulk of the manifest) only when
    // it is a new one, and its JSON is reused: the same bytes as JSON.stringify of the whole manifest.
    const head = parseContract(WorkerManifestHead, 'WorkerManifest', {
      ...rest,
      heartbeatAt: new Date().toISOString(),
    });
    const json = `${JSON.stringify(head).slice(0, -1)},"tasks":${this.tasksJson(tasks)}}`;
    await this.redis
      .multi()
      .set(REDIS_KEYS.worker(this.o.workerId), json, 'PX', this.o.ttlMs)
      .sadd(REDIS_KEYS.workers, this.o.workerId)
      .exec();
  }

  private tasksJson(tasks: WorkerManifest['tasks']): string {
    if (this.tasksCache?.tasks !== tasks)
      this.tasksCache = {
        tasks,
        json: JSON.stringify(parseContract(WorkerManifest.shape.tasks, 'WorkerManifest.tasks', tasks)),
      };
    return this.tasksCache.json;
  }

  /** Deregister: no reader may lease work to this worker any more. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.activityTimer);
    await this.writing;
    await this.redis
      .multi()
      .del(REDIS_KEYS.worker(this.o.workerId))
      .srem(REDIS_KEYS.workers, this.o.workerId)
      .exec();
  }
}
