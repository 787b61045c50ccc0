import { Redis } from 'ioredis';

/**
 * BENCH_BREAKDOWN=1: where a variant's Redis commands and memory go, printed to stderr after its throughput
 * run (INFO commandstats deltas per job, and MEMORY USAGE summed per key pattern per job). A development aid:
 * it runs after the timed part, so it does not change the table's numbers.
 */
export class RedisBreakdown {
  private constructor(private readonly redis: Redis) {}

  static open(url: string): RedisBreakdown | null {
    return process.env.BENCH_BREAKDOWN ? new RedisBreakdown(new Redis(url)) : null;
  }

  async commandCalls(): Promise<Map<string, number>> {
    const text = await this.redis.info('commandstats');
    const calls = new Map<string, number>();
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]));
    return calls;
  }

  /** Per-job command calls between two commandCalls() readings, largest first. */
  static commandsPerJob(before: Map<string, number>, after: Map<string, number>, jobs: number): string {
    return [...after]
      .map(([cmd, n]) => [cmd, (n - (before.get(cmd) ?? 0)) / jobs] as const)
      .filter(([, n]) => n > 0.005)
      .sort((a, b) => b[1] - a[1])
      .map(([cmd, n]) => `${cmd} ${n.toFixed(2)}`)
      .join(', ');
  }

  /** Bytes per key pattern (uuids and numbers replaced by *), summed over every key. */
  async memoryByPattern(): Promise<Array<[string, number, number]>> {
    const sums = new Map<string, [number, number]>();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      const pipeline = this.redis.pipeline();
      for (const k of keys) pipeline.memory('USAGE', k, 'SAMPLES', '0');
      const sizes = (await pipeline.exec()) ?? [];
      keys.forEach((k, i) => {
        const pattern = k
          .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
          .replace(/:\d+(?=:|$)/g, ':<n>');
        const s = sums.get(pattern) ?? [0, 0];
        s[0] += Number(sizes[i]?.[1] ?? 0);
        s[1] += 1;
        sums.set(pattern, s);
      });
    } while (cursor !== '0');
    return [...sums]
      .map(([p, [bytes, count]]) => [p, bytes, count] as [string, number, number])
      .sort((a, b) => b[1] - a[1]);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
