import type { ArtifactSweeper, StorageLogger, SweepResult } from '#libs/storage';
import { describe } from '#libs/storage';
import { REDIS_PREFIX } from '#libs/contracts';
import { LeaderLoop, type Redis } from '#libs/redis';

export const SWEEP_LEASE_KEY = `${REDIS_PREFIX}:artifacts:sweep-leader`;
/**
 * Lease of the sweeps: renewed every third of it, so a dead leader is replaced within this much. The sweeps are
 * safe if two ever overlap; the lease only keeps replicas from doing the same work twice.
 */
export const SWEEP_LEASE_TTL_MS = 10_000;

export interface SweepMetrics {
  sweepRan(outcome: 'ok' | 'failed', result?: SweepResult): void;
}

export interface SweepLoopOptions {
  intervalMs: number;
  leaseTtlMs?: number;
  leaseKey?: string;
}

/**
 * Every `intervalMs`, the replica holding the sweep lease runs one sweep pass (the shared LeaderLoop of
 * #libs/redis): batches until nothing more is due or the pass's time bound (ArtifactSweeper) has passed.
 * Runs never overlap within a process; a failed run is logged and counted, and the next interval tries again.
 */
export class SweepLoop {
  private readonly loop: LeaderLoop;

  constructor(
    redis: Redis,
    private readonly sweeper: ArtifactSweeper,
    options: SweepLoopOptions,
    private readonly metrics: SweepMetrics,
    private readonly logger: StorageLogger,
  ) {
    this.loop = new LeaderLoop(redis, {
      key: options.leaseKey ?? SWEEP_LEASE_KEY,
      role: 'artifact sweeps',
      leaseTtlMs: options.leaseTtlMs ?? SWEEP_LEASE_TTL_MS,
      intervalMs: options.intervalMs,
      firstPassDelayMs: Math.min(options.intervalMs, 1000),
      logger: { info: (o, m) => logger.info(o, m), warn: (o, m) => logger.warn(o, m) },
      // a pass may take several batches: it stops between them once the lease is lost or the loop stops
      pass: (stillLeader) => this.sweepOnce(stillLeader).then(() => undefined),
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

  /** One sweep, counted; a failure is logged and counted, never thrown. */
  async sweepOnce(proceed?: () => boolean): Promise<SweepResult | null> {
    try {
      const result = await this.sweeper.sweep(new Date(), proceed);
      this.metrics.sweepRan('ok', result);
      return result;
    } catch (e) {
      this.metrics.sweepRan('failed');
      this.logger.error({ err: describe(e) }, 'artifact sweep failed; retrying next interval');
      return null;
    }
  }
}
