import { LeaderLoop, type Redis } from '#libs/redis';
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
 * Runs the reconciler on the elected replica only (the shared LeaderLoop of #libs/redis): right after election
 * (so a restart picks up what happened while no leader ran) and then every reconcileIntervalMs. These timers
 * enforce deadlines; events never wait on them. Each pass then runs, each when given: the dispatch stage's safety
 * net (frees window slots of attempts workers took without the scheduler hearing of it, fills the windows,
 * promotes due retries), the retention sweep (when enabled: batches while more jobs are due, for at most its
 * passMaxMs, so a backlog drains without holding the next reconcile back longer than that) and the audit of the
 * per-tenant quota usage.
 */
export class LeaderLoops {
  private readonly loop: LeaderLoop;

  constructor(
    redis: Redis,
    private readonly reconciler: Reconciler,
    config: LeaderLoopsConfig,
    private readonly logger: SchedulerLogger,
    private readonly passes: LeaderPasses = {},
  ) {
    this.loop = new LeaderLoop(redis, {
      key: JOB_KEYS.leader,
      role: 'scheduler',
      leaseTtlMs: config.leaseTtlMs,
      intervalMs: config.reconcileIntervalMs,
      logger,
      // backlogs seen in an earlier term say nothing of the time since: schedule-to-start watches afresh
      onElected: () => reconciler.leaderElected(),
      pass: (stillLeader) => this.pass(stillLeader),
    });
  }

  get isLeader(): boolean {
    return this.loop.isLeader;
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async pass(stillLeader: () => boolean): Promise<void> {
    try {
      const summary = await this.reconciler.reconcileOnce();
      if (summary.actions > 0) this.logger.info({ ...summary }, 'reconciliation pass');
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'reconciliation pass failed');
    }
    const { maintainDispatch, retention, usageAudit } = this.passes;
    const step = async (name: string, run: () => Promise<void>): Promise<void> => {
      if (!stillLeader()) return;
      try {
        await run();
      } catch (e) {
        this.logger.error({ err: (e as Error).message }, `${name} failed`);
      }
    };
    if (maintainDispatch)
      await step('dispatch maintenance pass', async () => {
        const summary = await maintainDispatch();
        if (summary.released > 0) this.logger.info({ ...summary }, 'dispatch maintenance pass');
      });
    if (retention?.enabled)
      await step('retention pass', async () => {
        // a pass may take several batches: it stops between them once the lease is lost or the loop stops
        const summary = await retention.sweepOnce(stillLeader);
        if (summary.selected > 0) this.logger.info({ ...summary }, 'retention pass');
      });
    if (usageAudit) await step('quota usage audit', () => usageAudit.auditOnce().then(() => undefined));
  }
}
