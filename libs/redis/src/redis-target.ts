import type { RedisOptions } from 'ioredis';

/** Redis Sentinel: ask these sentinels which server is the primary of `name`, and follow failovers. */
export interface SentinelSettings {
  sentinels: Array<{ host: string; port: number }>;
  name: string;
  /** The sentinels' own password (`requirepass` of the sentinels), when they have one. */
  password?: string;
}

/** Where an app's Redis is: one URL, or (with Sentinel) the URL's credentials, db and TLS plus the sentinels. */
export interface RedisTarget {
  url: string;
  sentinel?: SentinelSettings;
}

/** The validated settings every app shares (`redisEnv` in #libs/config). */
export function redisTarget(c: {
  REDIS_URL: string;
  REDIS_SENTINELS?: Array<{ host: string; port: number }>;
  REDIS_SENTINEL_NAME: string;
  REDIS_SENTINEL_PASSWORD?: string;
}): RedisTarget {
  if (!c.REDIS_SENTINELS?.length) return { url: c.REDIS_URL };
  return {
    url: c.REDIS_URL,
    sentinel: {
      sentinels: c.REDIS_SENTINELS,
      name: c.REDIS_SENTINEL_NAME,
      password: c.REDIS_SENTINEL_PASSWORD,
    },
  };
}

/**
 * ioredis options for a Sentinel target: user, password, db and TLS come from the URL (its host is not used:
 * the sentinels name the primary), and the client re-asks the sentinels when the primary changes.
 */
export function sentinelOptions(url: string, s: SentinelSettings): RedisOptions {
  const u = new URL(url);
  return {
    sentinels: s.sentinels,
    name: s.name,
    sentinelPassword: s.password,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    // Subscribe to the sentinels' +switch-master instead of waiting for the old primary's socket to fail.
    failoverDetector: true,
  };
}
