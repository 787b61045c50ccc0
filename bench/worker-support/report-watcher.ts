import { Redis } from 'ioredis';
import { REDIS_KEYS, reportBodiesOf } from '#libs/contracts';

const TERMINAL = new Set(['succeeded', 'failed', 'released']);

interface Waiter {
  resolve: (type: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  started: boolean;
}

/**
 * Follows `{sy}:reports` (XREAD BLOCK on its own connection) and resolves, per attempt (jobId), when its
 * terminal report arrives — what the scheduler sees. It also checks what the scheduler relies on: a
 * `started` before the terminal report, and exactly one terminal report per attempt.
 */
export class ReportWatcher {
  private readonly redis: Redis;
  private readonly waiters = new Map<string, Waiter>();
  private readonly seenStarted = new Set<string>();
  private lastId = '$';
  private stopped = false;
  readonly problems: string[] = [];
  private loop?: Promise<void>;

  constructor(url: string) {
    this.redis = new Redis(url, { maxRetriesPerRequest: null });
  }

  async start(): Promise<void> {
    // the id of the newest entry now, so nothing written after start() is missed
    const last = await this.redis.xrevrange(REDIS_KEYS.reports, '+', '-', 'COUNT', 1);
    this.lastId = last[0]?.[0] ?? '0-0';
    this.loop = this.follow();
  }

  /** Resolves with the terminal report's type once it is seen (register before the attempt is enqueued). */
  wait(jobId: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(jobId);
        reject(new Error(`no terminal report for ${jobId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(jobId, { resolve, reject, timer, started: false });
    });
  }

  private async follow(): Promise<void> {
    while (!this.stopped) {
      const res = await this.redis
        .xread('COUNT', 1000, 'BLOCK', 500, 'STREAMS', REDIS_KEYS.reports, this.lastId)
        .catch((e: Error) => {
          if (!this.stopped) this.problems.push(`xread: ${e.message}`);
          return null;
        });
      for (const [, entries] of res ?? []) {
        for (const [id, fields] of entries) {
          this.lastId = id;
          for (const body of reportBodiesOf(fields))
            this.onReport(JSON.parse(body) as { jobId: string; type: string });
        }
      }
    }
  }

  private onReport(r: { jobId: string; type: string }): void {
    if (r.type === 'started') {
      this.seenStarted.add(r.jobId);
      return;
    }
    if (!TERMINAL.has(r.type)) return;
    const w = this.waiters.get(r.jobId);
    if (!w) {
      this.problems.push(`a ${r.type} report of ${r.jobId} nobody waits for (a second terminal report?)`);
      return;
    }
    this.waiters.delete(r.jobId);
    clearTimeout(w.timer);
    if (!this.seenStarted.delete(r.jobId))
      this.problems.push(`${r.jobId}: ${r.type} arrived without a started report before it`);
    w.resolve(r.type);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.redis.disconnect();
  }
}
