import { Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BULLMQ_PREFIX, NODE_QUEUES, type ResourceClass } from '#libs/contracts';
import type { WorkerMetrics } from '../worker-metrics.js';
import { FetchWatchdog } from './fetch-watchdog.js';
import { within } from './retry.js';

/** How long a forced BullMQ close, and closing its connection, may take before they are left behind. */
export const FORCED_CLOSE_MS = 1_000;

export type CloseReason = 'drain' | 'recreate' | 'quarantine';

export interface LeaseSourceOptions {
  actorId: string;
  resourceClass: ResourceClass;
  /** The queue of the actor's class, for the fetch watchdog's waiting count. */
  queue: Queue;
  /** A fresh connection for each BullMQ Worker (the watchdog may recreate it). */
  createConnection: () => Redis;
  closeConnection: (r: Redis) => Promise<void>;
  bullmq: { lockDurationMs: number; stalledIntervalMs: number; closeTimeoutMs: number };
  watchdog: { intervalMs: number; stallMs: number };
  /**
   * Runs one leased BullMQ job (an attempt, or a lease of several); returns normally so BullMQ completes it.
   * `token` is the job's lock token, which moving the job back to the queue (a lease's hand-back) needs.
   */
  process: (job: Job, token?: string) => Promise<void>;
  /** BullMQ could not renew these jobs' locks: another worker may already run them. */
  onLockLost: (bullJobIds: string[]) => void;
  /** The actor is idle and should be fetching (the watchdog's question). */
  isIdle: () => boolean;
  /** The actor may lease (not draining, not quarantined): a recreated Worker is only opened then. */
  mayLease: () => boolean;
  logger: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  metrics: WorkerMetrics;
}

/**
 * Where an actor's attempts come from: the BullMQ Worker (concurrency 1) on its class's queue, its
 * connection, its lock-loss event and the fetch watchdog that recreates it when it stops fetching.
 */
export class LeaseSource {
  private worker?: Worker;
  private connection?: Redis;
  private closing?: Promise<void>;
  private readonly watchdog: FetchWatchdog;

  constructor(private readonly o: LeaseSourceOptions) {
    this.watchdog = new FetchWatchdog({
      actorId: o.actorId,
      queue: o.queue,
      ...o.watchdog,
      isIdle: () => o.isIdle() && !!this.worker && !this.closing,
      recreate: async () => {
        await this.close(o.bullmq.closeTimeoutMs, 'recreate');
        if (o.mayLease()) this.open();
      },
      logger: o.logger,
      metrics: o.metrics,
    });
  }

  /** Start the watchdog (it checks only while a Worker is open). */
  startWatchdog(): void {
    this.watchdog.start();
  }

  stopWatchdog(): void {
    this.watchdog.stop();
  }

  /** An attempt started or finished: the Worker was fetching. */
  markBusy(): void {
    this.watchdog.markBusy();
  }

  /** Open a Worker: leasing starts. */
  open(): void {
    const connection = this.o.createConnection();
    const worker = new Worker(NODE_QUEUES[this.o.resourceClass], (job, token) => this.o.process(job, token), {
      connection,
      prefix: BULLMQ_PREFIX, // the scheduler's queues (one hash tag, for Redis Cluster)
      concurrency: 1,
      autorun: true,
      name: this.o.actorId,
      lockDuration: this.o.bullmq.lockDurationMs,
      stalledInterval: this.o.bullmq.stalledIntervalMs,
      maxStalledCount: 1,
    });
    worker.on('error', (err) =>
      this.o.logger.error({ actor: this.o.actorId, err: err.message }, 'bullmq worker error'),
    );
    worker.on('lockRenewalFailed', (jobIds) => this.o.onLockLost(jobIds));
    this.worker = worker;
    this.connection = connection;
    this.closing = undefined;
  }

  /** Open again once a close under way has finished (back from quarantine), if leasing is allowed. */
  async reopen(): Promise<void> {
    if (this.worker && !this.closing) return;
    await this.closing;
    if (this.o.mayLease()) this.open();
  }

  /**
   * Stop leasing. worker.close() waits for the running attempt and can hang (a known BullMQ failure mode
   * after an outage, or a report Redis does not take): bounded, then forced, each step bounded so a drain
   * keeps its budget. `runningJob` names what is abandoned when the bound is hit.
   */
  close(timeoutMs: number, why: CloseReason, runningJob?: object): Promise<void> {
    const worker = this.worker;
    const connection = this.connection;
    if (!worker) return Promise.resolve();
    this.closing ??= (async () => {
      if ((await within(worker.close(), timeoutMs)) === 'timeout') {
        this.o.logger.warn(
          { actor: this.o.actorId, timeoutMs, why, ...runningJob },
          runningJob
            ? "bullmq worker.close() did not finish: abandoned the running attempt's last report (Redis unreachable?); forcing the close"
            : 'bullmq worker.close() did not finish; forcing it',
        );
        await within(worker.close(true), FORCED_CLOSE_MS);
      }
      if (connection) await within(this.o.closeConnection(connection), FORCED_CLOSE_MS);
    })();
    return this.closing;
  }
}
