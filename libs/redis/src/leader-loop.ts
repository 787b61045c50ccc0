import type { Redis } from 'ioredis';
import { LeaderLease, type LeaseLogger } from './leader-lease.js';

export interface LeaderLoopOptions {
  /** The lease key, the role in log lines and the lease TTL (see LeaderLease). */
  key: string;
  role: string;
  leaseTtlMs: number;
  /** Time between the end of one pass and the start of the next, while leader. */
  intervalMs: number;
  /** Delay of the first pass after an election (default 0: at once, so a new leader catches up first). */
  firstPassDelayMs?: number;
  logger: LeaseLogger;
  /** Called on each election, before that term's first pass (state kept from an earlier term may be stale). */
  onElected?(): void;
  /**
   * One pass of the leader's work. `stillLeader()` lets a long pass stop between steps once the lease is lost;
   * a thrown error is the pass's own to log: the loop only keeps going.
   */
  pass(stillLeader: () => boolean): Promise<void>;
}

/**
 * Runs `pass` on the elected replica only: after election and then every intervalMs while the lease holds
 * (passes never overlap within a process). Losing the lease stops the timer; stop() waits for a running pass
 * and releases the lease.
 */
export class LeaderLoop {
  private readonly lease: LeaderLease;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;

  constructor(
    redis: Redis,
    private readonly options: LeaderLoopOptions,
  ) {
    this.lease = new LeaderLease(redis, {
      key: options.key,
      ttlMs: options.leaseTtlMs,
      role: options.role,
      logger: options.logger,
      onElected: () => {
        options.onElected?.();
        this.schedule(options.firstPassDelayMs ?? 0);
      },
      onDeposed: () => this.timer && clearTimeout(this.timer),
    });
  }

  get isLeader(): boolean {
    return this.lease.isLeader;
  }

  start(): void {
    this.stopped = false;
    this.lease.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.lease.stop();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.runPass().finally(() => {
        this.running = undefined;
        if (this.lease.isLeader) this.schedule(this.options.intervalMs);
      });
    }, delayMs);
  }

  private async runPass(): Promise<void> {
    if (!this.lease.isLeader) return;
    await this.options
      .pass(() => this.lease.isLeader && !this.stopped)
      .catch((e: unknown) => {
        this.options.logger.warn({ err: (e as Error).message }, `${this.options.role} pass failed`);
      });
  }
}
