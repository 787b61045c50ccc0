import type { ArtifactSweeper, StorageLogger, SweepResult } from '#libs/storage';
import { describe } from '#libs/storage';
import type { SweepLease } from './sweep-lease.js';

export interface SweepMetrics {
  sweepRan(outcome: 'ok' | 'failed', result?: SweepResult): void;
}

/**
 * Every `intervalMs`, the replica holding the lease runs one sweep. Runs never overlap within a process;
 * a failed run is logged and counted, and the next tick tries again.
 */
export class SweepLoop {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = true;

  constructor(
    private readonly sweeper: ArtifactSweeper,
    private readonly lease: SweepLease,
    private readonly intervalMs: number,
    private readonly metrics: SweepMetrics,
    private readonly logger: StorageLogger,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(Math.min(this.intervalMs, 1000));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule(this.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  /** One tick: sweep if this replica leads. Exposed for tests and admin triggers. */
  async tick(): Promise<SweepResult | null> {
    try {
      if (!(await this.lease.acquire())) return null;
      const result = await this.sweeper.sweep();
      this.metrics.sweepRan('ok', result);
      return result;
    } catch (e) {
      this.metrics.sweepRan('failed');
      this.logger.error({ err: describe(e) }, 'artifact sweep failed; retrying next interval');
      return null;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.lease.release().catch(() => undefined);
  }
}
