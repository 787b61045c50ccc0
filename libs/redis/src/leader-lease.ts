import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { defineScripts } from './lua-scripts.js';

/** Compare-and-pexpire and compare-and-delete of a lease key (lua/leaseRenew-1.lua, lua/leaseRelease-1.lua). */
export const LEASE_SCRIPTS = defineScripts({
  label: 'lease',
  dir: new URL('./lua/', import.meta.url),
  names: ['leaseRenew', 'leaseRelease'] as const,
});

export interface LeaseLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface LeaderLeaseOptions {
  /** The lease key: one per role (scheduler leader, artifact sweeps). */
  key: string;
  ttlMs: number;
  /** What is led, in log lines ("scheduler", "artifact sweeps"). */
  role: string;
  logger: LeaseLogger;
  onElected?(): void;
  onDeposed?(): void;
}

/**
 * One leader among the replicas: a Redis key set NX with a TTL, renewed every third of it by compare-and-pexpire
 * (a lease that expired and went to another replica stays theirs). A replica that cannot renew steps down a
 * third of the TTL before its lease can have expired, so two leaders never act at once (assuming clocks advance
 * at similar rates, which a TTL lease needs).
 */
export class LeaderLease {
  readonly holderId = randomUUID();
  private leader = false;
  private timer?: NodeJS.Timeout;
  private stopped = true;
  private leaseUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly options: LeaderLeaseOptions,
  ) {
    if (!(options.ttlMs > 0)) throw new Error(`${options.role} lease needs a TTL > 0, got ${options.ttlMs}`);
  }

  get isLeader(): boolean {
    return this.leader && Date.now() < this.leaseUntil;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  /** Stops renewing; a held lease is given up at once so another replica takes over without waiting. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leader) {
      this.setLeader(false);
      await LEASE_SCRIPTS.run(this.redis, 'leaseRelease', [this.options.key], [this.holderId]).catch(
        () => undefined, // not released: it expires after the TTL
      );
    }
  }

  private async tick(): Promise<void> {
    const { key, ttlMs } = this.options;
    const started = Date.now();
    try {
      const ok = this.leader
        ? (await LEASE_SCRIPTS.run(this.redis, 'leaseRenew', [key], [this.holderId, ttlMs])) === 1
        : (await this.redis.set(key, this.holderId, 'PX', ttlMs, 'NX')) === 'OK';
      if (this.stopped) {
        // stop() ran while this call was in flight: give back what it may just have taken
        if (ok) await LEASE_SCRIPTS.run(this.redis, 'leaseRelease', [key], [this.holderId]);
        return;
      }
      if (ok) this.leaseUntil = started + ttlMs;
      this.setLeader(ok);
    } catch (e) {
      this.options.logger.warn(
        { err: (e as Error).message, leader: this.leader },
        `${this.options.role} lease renewal failed`,
      );
      if (Date.now() >= this.leaseUntil - ttlMs / 3) this.setLeader(false);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), ttlMs / 3);
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    const { role, logger } = this.options;
    logger.info({ lease: this.holderId }, leader ? `elected ${role} leader` : `no longer ${role} leader`);
    if (leader) this.options.onElected?.();
    else this.options.onDeposed?.();
  }
}
