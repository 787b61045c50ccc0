import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { SchedulerLogger } from './scheduler-ports.js';

// Extends the lease only while we still hold it: a lease that expired and went to another replica stays theirs.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

export interface LeaderCallbacks {
  onElected(): void;
  onDeposed(): void;
}

/**
 * One leader among the replicas: a Redis key set NX with a TTL and renewed at a third of it. A replica that
 * cannot renew in time steps down before its lease can have expired, so two leaders never act at once
 * (assuming clocks advance at similar rates, which a TTL lease needs).
 */
export class LeaderLease {
  readonly id = randomUUID();
  private leader = false;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private leaseUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly ttlMs: number,
    private readonly callbacks: LeaderCallbacks,
    private readonly logger: SchedulerLogger,
  ) {}

  get isLeader(): boolean {
    return this.leader && Date.now() < this.leaseUntil;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leader) {
      this.setLeader(false);
      await this.redis.eval(RELEASE, 1, this.key, this.id).catch(() => undefined);
    }
  }

  private async tick(): Promise<void> {
    const started = Date.now();
    try {
      const ok = this.leader
        ? (await this.redis.eval(RENEW, 1, this.key, this.id, this.ttlMs)) === 1
        : (await this.redis.set(this.key, this.id, 'PX', this.ttlMs, 'NX')) === 'OK';
      if (ok) this.leaseUntil = started + this.ttlMs;
      this.setLeader(ok);
    } catch (e) {
      this.logger.warn({ err: (e as Error).message, leader: this.leader }, 'scheduler lease renewal failed');
      if (Date.now() >= this.leaseUntil - this.ttlMs / 3) this.setLeader(false);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.ttlMs / 3);
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.logger.info({ lease: this.id }, leader ? 'elected scheduler leader' : 'no longer scheduler leader');
    if (leader) this.callbacks.onElected();
    else this.callbacks.onDeposed();
  }
}
