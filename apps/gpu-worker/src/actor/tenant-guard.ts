import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { REDIS_KEYS, type JobError } from '#libs/contracts';
import type { WorkerMetrics } from '../worker-metrics.js';
import { within } from './retry.js';

export interface TenantGuardLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface TenantGuardOptions {
  /** Runner kills of one tenant within the window that throttle it; 0 turns throttling off. */
  killThreshold: number;
  windowMs: number;
  /** How long a throttled tenant's attempts are failed fast. */
  throttleMs: number;
  logger: TenantGuardLogger;
  metrics: WorkerMetrics;
  now?: () => number;
}

const REDIS_TIMEOUT_MS = 2_000;

/**
 * Contains a tenant whose attempts keep killing runners. Every kill caused by an attempt is recorded in
 * Redis (a sorted set per tenant, trimmed to the window, shared by all workers); past the threshold the
 * tenant is throttled for `throttleMs` and its attempts fail fast with TENANT_THROTTLED (retryable, the
 * retry time in the message) before they reach a runner. Other tenants are not touched.
 * See docs/decisions/0004-tenant-throttling.md.
 */
export class TenantGuard {
  private readonly now: () => number;

  constructor(
    private readonly redis: Redis,
    private readonly o: TenantGuardOptions,
  ) {
    this.now = o.now ?? Date.now;
  }

  /**
   * The key that says until when the tenant is throttled, for a caller that reads it together with other
   * keys (the attempt's preflight MGET), then passes the value to `throttledUntilOf`. Undefined when
   * throttling is off: nothing to read.
   */
  throttleKey(tenant: string): string | undefined {
    return this.o.killThreshold === 0 ? undefined : REDIS_KEYS.tenantThrottled(tenant);
  }

  /** Epoch ms until which the tenant is throttled, from the value of its throttle key; or undefined. */
  throttledUntilOf(value: string | null | undefined): number | undefined {
    if (this.o.killThreshold === 0 || value === null || value === undefined) return undefined;
    const until = Number(value);
    return Number.isFinite(until) && until > this.now() ? until : undefined;
  }

  throttledError(tenant: string, until: number): JobError {
    return {
      code: 'TENANT_THROTTLED',
      message:
        `tenant ${tenant} is throttled until ${new Date(until).toISOString()}: its attempts killed ` +
        `${this.o.killThreshold} or more task runners within ${Math.round(this.o.windowMs / 1000)} s; retry after that time`,
      retryable: true,
    };
  }

  /**
   * An attempt of `tenant` cost a runner: count it; past the threshold, throttle the tenant. The metrics say
   * how many, the log lines say whose (every kill and every throttle logs the tenant).
   */
  async runnerKilled(tenant: string, reason: string, log: object): Promise<void> {
    this.o.metrics.tenantRunnerKilled();
    if (this.o.killThreshold === 0) {
      this.o.logger.warn({ ...log, tenant, reason }, 'runner killed by a tenant attempt');
      return;
    }
    const now = this.now();
    const key = REDIS_KEYS.tenantRunnerKills(tenant);
    try {
      const res = await within(
        this.redis
          .multi()
          .zadd(key, now, `${now}-${randomBytes(4).toString('hex')}`)
          .zremrangebyscore(key, '-inf', now - this.o.windowMs)
          .zcard(key)
          .pexpire(key, this.o.windowMs)
          .exec(),
        REDIS_TIMEOUT_MS,
      );
      if (res === 'timeout' || !res) throw new Error('Redis did not answer in time');
      const kills = Number(res[2]?.[1] ?? 0);
      this.o.logger.warn(
        { ...log, tenant, kills, windowMs: this.o.windowMs, reason },
        'runner killed by a tenant attempt',
      );
      if (kills < this.o.killThreshold) return;
      const until = now + this.o.throttleMs;
      // NX: the first worker to see the threshold sets the time; the others keep it (no endless extension).
      const set = await this.redis.set(
        REDIS_KEYS.tenantThrottled(tenant),
        String(until),
        'PX',
        this.o.throttleMs,
        'NX',
      );
      if (set === 'OK') {
        this.o.metrics.tenantThrottled();
        this.o.logger.error(
          { ...log, tenant, kills, windowMs: this.o.windowMs, until: new Date(until).toISOString() },
          'tenant throttled: its attempts keep killing runners; failing them fast until the retry time',
        );
      }
    } catch (e) {
      this.o.logger.error(
        { ...log, tenant, reason, err: (e as Error).message },
        'could not record a runner kill of a tenant',
      );
    }
  }
}
