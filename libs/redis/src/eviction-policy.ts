import type { Redis } from 'ioredis';
import type { RedisLogger } from './create-redis.js';

/**
 * The only `maxmemory-policy` under which a full Redis refuses writes (an error the apps report) instead of
 * dropping keys. Every other policy, `volatile-*` included (cancel markers, leases and manifests have TTLs),
 * silently loses state that Redis is the system of record for.
 */
export const SAFE_EVICTION_POLICY = 'noeviction';

/** `maxmemory_policy` of `INFO memory`, or null when the server does not report it. */
export function parseMaxmemoryPolicy(info: string): string | null {
  return /^maxmemory_policy:([^\r\n]*)\r?$/m.exec(info)?.[1]?.trim() || null;
}

/** Why the evicting policy is a problem and what to set, for log lines and the refusal alike. */
export function evictionPolicyProblem(policy: string): string {
  return (
    `Redis maxmemory-policy is ${policy}: a full Redis evicts keys (job state, events, queue entries, artifact ` +
    `records, API keys) and loses them silently. Set maxmemory-policy ${SAFE_EVICTION_POLICY} (redis.conf, ` +
    `CONFIG SET, or the managed service's parameter group) and give Redis a maxmemory with headroom`
  );
}

/** Production refuses to run on a Redis that evicts: a deployment mistake, like a missing secret (exit 78). */
export class RedisEvictionPolicyError extends Error {
  readonly code = 'REDIS_EVICTION_POLICY';
  constructor(readonly policy: string) {
    super(`refusing to start in production: ${evictionPolicyProblem(policy)}`);
    this.name = 'RedisEvictionPolicyError';
  }
}

export interface EvictionPolicyOptions {
  /** The connection's name (logs). */
  name: string;
  /** NODE_ENV=production: an evicting policy at the first check refuses to start (`refuse`). */
  production: boolean;
  logger: RedisLogger;
  /** Called once, in production, when the first policy read is not `noeviction` (the app exits). */
  refuse: (err: RedisEvictionPolicyError) => void;
}

/**
 * Tracks the policy of one Redis as the app reads it (at each connection `ready`, and on metric scrapes) and says
 * so once per change: an error line naming an evicting policy, an info line when it is `noeviction` (again).
 * The first policy read decides the start: production refuses an evicting one, elsewhere it is an error line.
 */
export class EvictionPolicyMonitor {
  /** undefined: never read; null: the server does not report it. */
  private last: string | null | undefined;

  constructor(private readonly o: EvictionPolicyOptions) {}

  /** The policy last read (undefined before the first read, null when Redis does not report one). */
  get policy(): string | null | undefined {
    return this.last;
  }

  /** Records a policy read from Redis (`parseMaxmemoryPolicy`); logs when it differs from the last one. */
  observe(policy: string | null): void {
    const first = this.last === undefined;
    if (!first && policy === this.last) return;
    const previous = this.last ?? undefined;
    this.last = policy;
    const fields = { redis: this.o.name, maxmemory_policy: policy, previous, expected: SAFE_EVICTION_POLICY };
    if (policy === null) {
      this.o.logger.warn(
        fields,
        `Redis does not report its maxmemory_policy (INFO memory): make sure it is ${SAFE_EVICTION_POLICY}`,
      );
    } else if (policy === SAFE_EVICTION_POLICY) {
      this.o.logger.info(fields, `Redis maxmemory-policy is ${policy}`);
    } else if (first && this.o.production) {
      this.o.refuse(new RedisEvictionPolicyError(policy));
    } else {
      this.o.logger.error(fields, evictionPolicyProblem(policy));
    }
  }

  /** Reads the policy from `INFO memory` (CONFIG GET may be disabled on managed Redis). */
  async check(redis: Redis): Promise<string | null> {
    const policy = parseMaxmemoryPolicy(await redis.info('memory'));
    this.observe(policy);
    return policy;
  }

  /**
   * Checks on every `ready` of `redis` (now, if it is ready): the first connection decides the start, and a
   * reconnect (a failover to another server) is checked again. A failed read is a warning; the next one retries.
   */
  watch(redis: Redis): this {
    const run = () =>
      this.check(redis).catch((e: unknown) =>
        this.o.logger.warn(
          { redis: this.o.name, err: e instanceof Error ? e.message : String(e) },
          'could not read Redis maxmemory-policy (INFO memory); checked again at the next connection',
        ),
      );
    redis.on('ready', () => void run());
    if (redis.status === 'ready') void run();
    return this;
  }
}

/** An `EvictionPolicyMonitor` watching `redis` from now on (see `watch`). */
export function watchEvictionPolicy(redis: Redis, o: EvictionPolicyOptions): EvictionPolicyMonitor {
  return new EvictionPolicyMonitor(o).watch(redis);
}
