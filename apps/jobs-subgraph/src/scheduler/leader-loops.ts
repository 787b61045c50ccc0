import type { Redis } from 'ioredis';
import { LeaderLease } from './leader-lease.js';
import type { JobRetention } from './job-retention.js';
import type { Reconciler } from './reconciler.js';
import type { SchedulerLogger } from './scheduler-ports.js';
import { JOB_KEYS } from './keys.js';

/** The dispatch stage's safety net (FairDispatcher.maintain with the live actors), run on every pass. */
export type DispatchMaintenance = () => Promise<{ released: number; dispatched: number }>;

export interface LeaderLoopsConfig {
  leaseTtlMs: number;
  /** How often the leader reconciles and checks deadlines (a deadline is enforced within this much). */
  reconcileIntervalMs: number;
}

/**
 * Runs the reconciler on the elected replica only: right after election (so a restart picks up what happened
 * while no leader ran) and then every reconcileIntervalMs. These timers enforce deadlines; events never wait on them.
 * Each pass then runs the dispatch stage's safety net (when given: frees window slots of attempts workers took
 * without the scheduler hearing of it, fills the windows, promotes due retries) and one bounded batch of the
 * retention sweep (when one is given and enabled).
 */
export class LeaderLoops {
  private readonly lease: LeaderLease;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    redis: Redis,
    private readonly reconciler: Reconciler,
    private readonly config: LeaderLoopsConfig,
    private readonly logger: SchedulerLogger,
    private readonly retention?: JobRetention,
    private readonly maintainDispatch?: DispatchMaintenance,
  ) {
    this.lease = new LeaderLease(
      redis,
      JOB_KEYS.leader,
      config.leaseTtlMs,
      {
        onElected: () => this.schedule(0),
        onDeposed: () => this.timer && clearTimeout(this.timer),
      },
      logger,
    );
  }

  get isLeader(): boolean {
    return this.lease.isLeader;
  }

  start(): void {
    this.lease.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.lease.stop();
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.pass().finally(() => {
        if (this.lease.isLeader) this.schedule(this.config.reconcileIntervalMs);
      });
    }, delayMs);
  }

  private async pass(): Promise<void> {
    if (!this.lease.isLeader) return;
    try {
      const summary = await this.reconciler.reconcileOnce();
      if (summary.actions > 0) this.logger.info({ ...summary }, 'reconciliation pass');
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'reconciliation pass failed');
    }
    if (this.maintainDispatch && this.lease.isLeader) {
      try {
        const summary = await this.maintainDispatch();
        if (summary.released > 0) this.logger.info({ ...summary }, 'dispatch maintenance pass');
      } catch (e) {
        this.logger.error({ err: (e as Error).message }, 'dispatch maintenance pass failed');
      }
    }
    if (!this.retention?.enabled || !this.lease.isLeader) return;
    try {
      const summary = await this.retention.sweepOnce();
      if (summary.selected > 0) this.logger.info({ ...summary }, 'retention pass');
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'retention pass failed');
    }
  }
}
