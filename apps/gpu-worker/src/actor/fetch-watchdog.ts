import type { Queue } from 'bullmq';
import type { WorkerMetrics } from '../worker-metrics.js';
import { within } from './retry.js';

export interface FetchWatchdogOptions {
  actorId: string;
  /** The queue of the actor's class, for its waiting count. */
  queue: Queue;
  intervalMs: number;
  stallMs: number;
  /** The actor is idle with a live BullMQ worker (so it should be fetching). */
  isIdle: () => boolean;
  /** Close the actor's BullMQ worker and create a new one. */
  recreate: () => Promise<void>;
  logger: { warn(obj: object, msg: string): void };
  metrics: WorkerMetrics;
}

/**
 * After a Redis outage a BullMQ worker's blocking connection may never fetch again. An idle actor that
 * sees jobs waiting in its queue for longer than `stallMs` recreates its Worker.
 */
export class FetchWatchdog {
  private timer?: NodeJS.Timeout;
  private busy = false;
  private waitingSince?: number;
  private lastBusyAt = Date.now();

  constructor(private readonly o: FetchWatchdogOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The actor started or finished an attempt: it was fetching. */
  markBusy(): void {
    this.lastBusyAt = Date.now();
  }

  private async check(): Promise<void> {
    if (this.busy || !this.o.isIdle()) return;
    this.busy = true;
    try {
      const counts = await within(this.o.queue.getJobCounts('wait', 'prioritized'), 2_000);
      if (counts === 'timeout') return;
      const waiting = (counts.wait ?? 0) + (counts.prioritized ?? 0);
      const now = Date.now();
      if (waiting === 0 || !this.o.isIdle()) {
        this.waitingSince = undefined;
        return;
      }
      this.waitingSince ??= now;
      if (now - this.waitingSince < this.o.stallMs || now - this.lastBusyAt < this.o.stallMs) return;
      this.o.logger.warn(
        { actor: this.o.actorId, waiting, idleMs: now - this.lastBusyAt },
        'idle actor is not fetching waiting jobs; recreating its BullMQ worker',
      );
      this.o.metrics.fetchWatchdogRecreated(this.o.actorId);
      this.waitingSince = undefined;
      await this.o.recreate();
    } catch (e) {
      this.o.logger.warn({ actor: this.o.actorId, err: (e as Error).message }, 'fetch watchdog check failed');
    } finally {
      this.busy = false;
    }
  }
}
