import type { Redis } from 'ioredis';
import { DomainError, unavailable, unavailableWhenDisconnected } from '#libs/errors';
import { backoffDelayMs, type BackoffPolicy } from '#libs/redis';

/**
 * How long a live subscriber waits for Redis before it ends with UNAVAILABLE. A restart replaying its AOF or a
 * Sentinel failover (down-after 30 s by default, then the election) fits in it; longer, the client is told and
 * resumes from its cursor when it wants.
 */
export const DEFAULT_MAX_OUTAGE_MS = 60_000;

/** Re-reads while waiting: 250 ms doubling to 5 s, jittered, so waiting subscribers do not read all at once. */
const DEFAULT_RETRY: BackoffPolicy = { baseMs: 250, capMs: 5_000 };

export interface ReadOutagesLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ReadOutagesMetrics {
  /** A subscriber waited longer than the bound and ended with UNAVAILABLE. */
  endedUnavailable(): void;
}

export interface ReadOutagesOptions {
  /** Whether a failed read means Redis cannot be reached for now (the reading connection's classification). */
  isUnavailable: (e: unknown) => boolean;
  /** Longest wait for Redis to come back, from the first failed read. */
  maxOutageMs?: number;
  retry?: BackoffPolicy;
  logger: ReadOutagesLogger;
  metrics?: ReadOutagesMetrics;
}

/** One follower's side: what it calls on its reads, and what its outage calls back. */
export interface OutageReader {
  /**
   * A read failed. True: Redis is unavailable, the follower waits (it is asked to read again on a retry, on a
   * reconnect, or ended with UNAVAILABLE after the bound); false: not an outage, the follower ends with `e`.
   */
  failed(e: unknown): boolean;
  /** A read went through: no longer waiting. */
  succeeded(): void;
  /** The follower ended: timers off, not counted any more. */
  close(): void;
}

interface Waiting {
  failures: number;
  retry?: NodeJS.Timeout;
  deadline: NodeJS.Timeout;
}

/**
 * Lets live event followers ride out a Redis outage instead of ending with the first failed read. A follower
 * whose read fails because Redis is unavailable waits: it reads again from its last position (so nothing is
 * lost or repeated) after a backoff, on the next wake-up, or when the reading connection is ready again; it
 * ends with UNAVAILABLE only if Redis stays away longer than `maxOutageMs`. The outage is logged once when the
 * first follower starts waiting and once when none waits any more, not per follower; `waiting` is the gauge.
 */
export class ReadOutages {
  private readonly live = new Set<() => void>();
  private readonly waitingSet = new Set<() => void>();
  private readonly maxOutageMs: number;
  private readonly retry: BackoffPolicy;
  /** This outage (from the first follower waiting to the last one done): for its closing log line. */
  private outage?: { since: number; readAgain: number; ended: number; left: number };

  constructor(private readonly opts: ReadOutagesOptions) {
    this.maxOutageMs = opts.maxOutageMs ?? DEFAULT_MAX_OUTAGE_MS;
    this.retry = opts.retry ?? DEFAULT_RETRY;
  }

  /** Followers waiting for Redis now. */
  get waiting(): number {
    return this.waitingSet.size;
  }

  /**
   * Follows the connection the followers read through: when it drops, every follower reads (and, failing, starts
   * waiting, so it ends after the bound even if Redis never returns and no wake-up comes); when it is ready
   * again, the waiting ones read at once.
   */
  watch(redis: Redis): void {
    redis.on('close', () => this.each(this.live));
    redis.on('ready', () => this.each(this.waitingSet));
  }

  /** A follower's handle; `readAgain` reads from its last position, `end` ends it with that error. */
  reader(readAgain: () => void, end: (error: DomainError) => void): OutageReader {
    let state: Waiting | undefined;
    this.live.add(readAgain);
    /** Done waiting: read through, ended by the bound, or left (the subscriber went away meanwhile). */
    const leave = (how: 'readAgain' | 'ended' | 'left') => {
      if (!state) return;
      clearTimeout(state.retry);
      clearTimeout(state.deadline);
      state = undefined;
      this.waitingSet.delete(readAgain);
      if (this.outage) this.outage[how]++;
      this.logIfOver();
    };
    return {
      failed: (e) => {
        // a DomainError is Redis's answer (a trimmed feed), not its absence
        if (e instanceof DomainError || !this.opts.isUnavailable(e)) return false;
        if (!state) {
          const now = Date.now();
          state = {
            failures: 0,
            deadline: setTimeout(() => {
              const waitedMs = Date.now() - now;
              leave('ended');
              this.opts.metrics?.endedUnavailable();
              end(
                unavailable(
                  `Redis has been unavailable for ${Math.round(waitedMs / 1000)} s: subscribe again with your last cursor`,
                ),
              );
            }, this.maxOutageMs).unref(),
          };
          this.waitingSet.add(readAgain);
          this.logIfBegun(e);
        }
        clearTimeout(state.retry);
        // unref'd, as the deadline: a waiting subscriber does not hold up the process's exit
        state.retry = setTimeout(readAgain, backoffDelayMs(state.failures++, this.retry)).unref();
        return true;
      },
      succeeded: () => leave('readAgain'),
      close: () => {
        leave('left');
        this.live.delete(readAgain);
      },
    };
  }

  private each(readers: Set<() => void>): void {
    for (const readAgain of [...readers]) readAgain();
  }

  private logIfBegun(e: unknown): void {
    if (this.outage) return;
    this.outage = { since: Date.now(), readAgain: 0, ended: 0, left: 0 };
    this.opts.logger.warn(
      { err: e instanceof Error ? e.message : String(e), maxOutageMs: this.maxOutageMs },
      'event subscribers: Redis unavailable; they wait for it and read again from where they were',
    );
  }

  private logIfOver(): void {
    if (!this.outage || this.waitingSet.size > 0) return;
    const { since, readAgain, ended, left } = this.outage;
    this.outage = undefined;
    // a warning when the outage outlasted the bound: subscribers were ended
    this.opts.logger[ended > 0 ? 'warn' : 'info'](
      { outageMs: Date.now() - since, readAgain, endedUnavailable: ended, left },
      'event subscribers: none waits for Redis any more',
    );
  }
}

/** The outages of followers that read through `redis` (the app's command connection). */
export function readOutagesOf(redis: Redis, opts: Omit<ReadOutagesOptions, 'isUnavailable'>): ReadOutages {
  const outages = new ReadOutages({ ...opts, isUnavailable: unavailableWhenDisconnected(redis) });
  outages.watch(redis);
  return outages;
}
