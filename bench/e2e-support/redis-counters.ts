import { Redis } from 'ioredis';

export interface RedisCounters {
  /** Sum of `calls` over INFO commandstats: every command run, those inside Lua scripts included. */
  commands: number;
  /** Calls per command name, for the breakdown printed to stderr. */
  perCommand: Map<string, number>;
  usedMemory: number;
}

/** INFO readings of the stack's redis-server (the one the peer uses too). */
export class RedisCounterReader {
  private constructor(
    private readonly redis: Redis,
    readonly version: string,
  ) {}

  static async connect(url: string): Promise<RedisCounterReader> {
    const redis = new Redis(url, { maxRetriesPerRequest: 3 });
    const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
    return new RedisCounterReader(redis, version);
  }

  async read(): Promise<RedisCounters> {
    const [stats, memory] = await Promise.all([this.redis.info('commandstats'), this.redis.info('memory')]);
    const perCommand = new Map<string, number>();
    let commands = 0;
    for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      perCommand.set(m[1]!, Number(m[2]));
      commands += Number(m[2]);
    }
    const used = /^used_memory:(\d+)/m.exec(memory);
    if (!used) throw new Error('INFO memory has no used_memory');
    return { commands, perCommand, usedMemory: Number(used[1]) };
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Commands per job between two readings, with the top commands (by calls per job) as a short text. */
export function commandsPerJob(
  before: RedisCounters,
  after: RedisCounters,
  jobs: number,
): { perJob: number; top: string } {
  const deltas = [...after.perCommand].map(
    ([name, calls]) => [name, calls - (before.perCommand.get(name) ?? 0)] as const,
  );
  const top = deltas
    .filter(([, d]) => d > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([name, d]) => `${name} ${(d / jobs).toFixed(1)}`)
    .join(', ');
  return { perJob: (after.commands - before.commands) / jobs, top };
}
