import { Redis, type RedisOptions } from 'ioredis';
import { sentinelOptions, type RedisTarget } from './redis-target.js';
import { backoffDelayMs } from './backoff.js';

export interface RedisLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * - `blocking`: BullMQ workers and blocking reads (XREADGROUP BLOCK, pub/sub). Commands wait through an outage
 *   (`maxRetriesPerRequest: null`), as BullMQ requires.
 * - `command`: request paths. Fail fast while disconnected so a GraphQL request answers UNAVAILABLE instead
 *   of hanging; a command sent during a reconnect is retried a bounded number of times.
 */
export type RedisRole = 'blocking' | 'command';

export interface CreateRedisOptions extends RedisTarget {
  /** Shows in logs and in CLIENT LIST. */
  name: string;
  role: RedisRole;
  logger: RedisLogger;
  /** Cap of the reconnect backoff (default 10 s). */
  maxBackoffMs?: number;
  extra?: RedisOptions;
}

/** Delay before reconnect `attempt` (1, 2…): the shared backoff, so reconnect storms spread out. */
export function reconnectDelayMs(
  attempt: number,
  baseMs = 100,
  capMs = 10_000,
  random = Math.random,
): number {
  return backoffDelayMs(attempt, { baseMs, capMs }, random);
}

/** Connections being closed on purpose: their end is not a warning. */
const closing = new WeakSet<Redis>();

export function createRedis(opts: CreateRedisOptions): Redis {
  const { url, name, role, logger } = opts;
  const where = opts.sentinel
    ? `sentinel ${opts.sentinel.name}@${opts.sentinel.sentinels.map((x) => `${x.host}:${x.port}`).join(',')}`
    : safeUrl(url);
  let attempt = 0;
  const backoffMs = (n: number) => reconnectDelayMs(n, 100, opts.maxBackoffMs ?? 10_000);
  const common: RedisOptions = {
    connectionName: `switchyard:${name}`,
    lazyConnect: false,
    maxRetriesPerRequest: role === 'blocking' ? null : 2,
    enableOfflineQueue: role === 'blocking',
    connectTimeout: 5_000,
    retryStrategy: (times) => {
      attempt = times;
      const delay = backoffMs(times);
      logger.warn({ redis: name, url: where, attempt: times, delayMs: delay }, 'redis reconnecting');
      return delay;
    },
    // A failover makes a replica refuse writes: reconnect to find the new primary.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
    ...opts.extra,
  };
  const redis = opts.sentinel
    ? new Redis({ ...sentinelOptions(url, opts.sentinel), ...common })
    : new Redis(url, common);
  redis.on('ready', () => {
    logger.info({ redis: name, url: where, afterAttempts: attempt }, 'redis ready');
    attempt = 0;
  });
  redis.on('error', (err: Error) =>
    logger.error({ redis: name, url: where, err: err.message }, 'redis error'),
  );
  // ioredis ends a client for good when its connector is disconnected while it is connecting: connect() then
  // rejects "Connection is closed." and the status goes to `end` with no retry. A sentinel's failover notice or a
  // READONLY reconnect landing mid-connect does that (redis/ioredis#1683: after a failover, some clients answer
  // "Connection is closed." forever). A connection we did not close comes back, with the same backoff.
  let connecting = false;
  redis.on('connecting', () => (connecting = true));
  redis.on('connect', () => (connecting = false));
  redis.on('end', () => {
    const endedWhileConnecting = connecting;
    connecting = false;
    if (closing.has(redis)) return logger.info({ redis: name, url: where }, 'redis connection closed');
    if (!endedWhileConnecting) return logger.warn({ redis: name, url: where }, 'redis connection ended');
    const delay = backoffMs(++attempt);
    logger.warn(
      { redis: name, url: where, attempt, delayMs: delay },
      'redis connection ended while connecting; connecting again',
    );
    setTimeout(() => {
      if (!closing.has(redis) && redis.status === 'end') redis.connect().catch(() => undefined);
    }, delay);
  });
  return redis;
}

/** The URL without its password, for logs. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable redis url)';
  }
}

/** Resolves when Redis answers PING within `timeoutMs`, rejects otherwise (health probes). */
export async function waitForRedisReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`redis not ready after ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(t);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/** Resolves when Redis answers PING within `timeoutMs`, rejects otherwise (health probes). */
export async function pingRedis(redis: Redis, timeoutMs = 1_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_r, reject) => {
        timer = setTimeout(
          () => reject(new Error(`redis did not answer PING within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** QUIT, awaited until the connection has ended; one that cannot quit in time (Redis down) is disconnected. */
export async function quitRedis(redis: Redis, timeoutMs = 2_000): Promise<void> {
  closing.add(redis); // also when it has already ended: no reconnect of an ended connection after this
  if (redis.status === 'end') return;
  const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.quit().then(() => ended),
      new Promise((_r, reject) => {
        timer = setTimeout(() => reject(new Error('quit timed out')), timeoutMs);
      }),
    ]);
  } catch {
    disconnectRedis(redis);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Closes the connection now and rejects every command still waiting in it. ioredis's disconnect() while it is
 * reconnecting cancels the reconnect but leaves queued commands pending forever (a blocking XREADGROUP queued
 * during a Redis restart then held a shutdown until its grace ran out); flushQueue is ioredis's own way to fail
 * them, as it does on a closed connection.
 */
export function disconnectRedis(redis: Redis): void {
  closing.add(redis);
  redis.disconnect(false);
  (redis as unknown as { flushQueue(error: Error): void }).flushQueue(new Error('Connection is closed.'));
}
