import type { Redis } from 'ioredis';
import { LeaderLease } from './leader-lease.js';
import type { JobRetention } from './job-retention.js';
import type { Reconciler } from './reconciler.js';
import type { TenantUsageAudit } from './tenant-usage-audit.js';
import type { SchedulerLogger } from './scheduler-ports.js';
import { JOB_KEYS } from './keys.js';

/** The dispatch stage's safety net (FairDispatcher.maintain with the live actors), run on every pass. */
export type DispatchMaintenance = () => Promise<{ released: number; dispatched: number }>;

/** What a leader pass runs after reconciling, each when given. */
export interface LeaderPasses {
  maintainDispatch?: DispatchMaintenance;
  retention?: JobRetention;
  usageAudit?: TenantUsageAudit;
}

export interface LeaderLoopsConfig {
  leaseTtlMs: number;
  /** How often the leader reconciles and checks deadlines (a deadline is enforced within this much). */
  reconcileIntervalMs: number;
}

/**
 * Runs the reconciler on the elected replica only: right after election (so a restart picks up what happened
 * while no leader ran) and then every reconcileIntervalMs. These timers enforce deadlines; events never wait on them.
 * Each pass then runs, each when given: the dispatch stage's safety net (frees window slots of attempts workers
 * took without the scheduler hearing of it, fills the windows, promotes due retries), one bounded batch of the
 * retention sweep (when enabled) and the audit of the per-tenant quota usage.
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
    private readonly passes: LeaderPasses = {},
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
    const { maintainDispatch, retention, usageAudit } = this.passes;
    if (maintainDispatch)
      await this.step('dispatch maintenance pass', async () => {
        const summary = await maintainDispatch();
        if (summary.released > 0) this.logger.info({ ...summary }, 'dispatch maintenance pass');
      });
    if (retention?.enabled)
      await this.step('retention pass', async () => {
        const summary = await retention.sweepOnce();
        if (summary.selected > 0) this.logger.info({ ...summary }, 'retention pass');
      });
    if (usageAudit) await this.step('quota usage audit', () => usageAudit.auditOnce().then(() => undefined));
  }

  /** One step of a pass, only while still leader; a failure is logged and the next step still runs. */
  private async step(name: string, run: () => Promise<void>): Promise<void> {
    if (!this.lease.isLeader) return;
    try {
      await run();
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, `${name} failed`);
    }
  }
}
