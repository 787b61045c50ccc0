import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import {
  createRedis,
  disconnectRedis,
  pingRedis,
  quitRedis,
  reconnectDelayMs,
  waitForRedisReady,
  type RedisLogger,
} from './index.js';

function recordingLogger() {
  const lines: Array<{ level: string; msg: string; obj: object }> = [];
  const logger: RedisLogger = {
    info: (obj, msg) => lines.push({ level: 'info', msg, obj }),
    warn: (obj, msg) => lines.push({ level: 'warn', msg, obj }),
    error: (obj, msg) => lines.push({ level: 'error', msg, obj }),
  };
  return { logger, lines };
}

describe('reconnectDelayMs', () => {
  it('grows exponentially, is capped, and jitters between half and all of it', () => {
    expect(reconnectDelayMs(1, 100, 10_000, () => 1)).toBe(200);
    expect(reconnectDelayMs(1, 100, 10_000, () => 0)).toBe(100);
    expect(reconnectDelayMs(5, 100, 10_000, () => 1)).toBe(3200);
    expect(reconnectDelayMs(30, 100, 10_000, () => 1)).toBe(10_000);
    expect(reconnectDelayMs(30, 100, 10_000, () => 0)).toBe(5000);
  });
});

describe('createRedis against a real redis-server', () => {
  let server: RedisHandle;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('survives SIGKILL + restart: a blocking-role command issued during the outage completes after reconnect', async () => {
    const { logger, lines } = recordingLogger();
    const redis = createRedis({
      url: server.url,
      name: 'blocking-test',
      role: 'blocking',
      logger,
      maxBackoffMs: 300,
    });
    await redis.set('before', '1');
    await waitForRedisReady(redis);
    await pingRedis(redis);

    await server.kill('SIGKILL');
    const during = redis.set('during', '2'); // queued while disconnected
    await expect(pingRedis(redis)).rejects.toThrow();
    await server.restart();

    await expect(during).resolves.toBe('OK');
    expect(await redis.get('before')).toBe('1'); // AOF kept the write from before the kill
    expect(await redis.get('during')).toBe('2');
    await waitFor(() => lines.some((l) => l.msg === 'redis reconnecting'));
    expect(
      lines.some(
        (l) => l.level === 'error' || l.msg === 'redis connection ended' || l.msg === 'redis reconnecting',
      ),
    ).toBe(true);
    await quitRedis(redis);
    expect(redis.status).toBe('end');
  });

  it('a command-role command during the outage fails fast with a clear error, then works after restart', async () => {
    const { logger } = recordingLogger();
    const redis = createRedis({
      url: server.url,
      name: 'command-test',
      role: 'command',
      logger,
      maxBackoffMs: 300,
    });
    await waitForRedisReady(redis);
    await pingRedis(redis);
    await server.kill('SIGKILL');
    await waitFor(() => redis.status !== 'ready');
    const started = Date.now();
    await expect(redis.get('x')).rejects.toThrow(
      /enableOfflineQueue|Connection is closed|Stream isn't writeable/,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    await server.restart();
    await waitFor(() => redis.status === 'ready', { timeoutMs: 10_000 });
    expect(await redis.get('during')).toBe('2');
    await quitRedis(redis);
  });

  it('a connection ended while connecting (its connector closed mid-connect, as a sentinel failover can) connects again', async () => {
    const { logger, lines } = recordingLogger();
    const redis = createRedis({
      url: server.url,
      name: 'race-test',
      role: 'command',
      logger,
      maxBackoffMs: 200,
    });
    expect(redis.status).toBe('connecting');
    // what ioredis's failover detector / reconnectOnError do: disconnect the connector while connect() is under way
    (redis as unknown as { connector: { disconnect(): void } }).connector.disconnect();
    await waitFor(() =>
      lines.some((l) => l.msg === 'redis connection ended while connecting; connecting again'),
    );
    await waitFor(() => redis.status === 'ready', { timeoutMs: 5_000 });
    expect(await redis.ping()).toBe('PONG');
    await quitRedis(redis);
    expect(lines.at(-1)?.msg).toBe('redis connection closed');
  });

  it('quitRedis returns in bounded time when redis is gone', async () => {
    const { logger } = recordingLogger();
    const redis = createRedis({
      url: server.url,
      name: 'quit-test',
      role: 'blocking',
      logger,
      maxBackoffMs: 300,
    });
    await waitForRedisReady(redis);
    await pingRedis(redis);
    await server.kill('SIGKILL');
    const started = Date.now();
    await quitRedis(redis, 500);
    expect(Date.now() - started).toBeLessThan(2_000);
    await server.restart();
  });

  it('disconnectRedis while reconnecting fails the commands queued meanwhile (plain disconnect leaves them pending)', async () => {
    const { logger } = recordingLogger();
    const redis = createRedis({
      url: server.url,
      name: 'closing-test',
      role: 'blocking',
      logger,
      maxBackoffMs: 5_000,
    });
    await waitForRedisReady(redis);
    await server.kill('SIGKILL');
    try {
      await waitFor(() => redis.status === 'reconnecting', { what: 'the client to reconnect' });
      const queued = redis.xread('BLOCK', 5_000, 'STREAMS', 'nothing', '$').then(
        () => 'answered',
        (e: Error) => `failed: ${e.message}`,
      );
      disconnectRedis(redis);
      const outcome = await Promise.race([
        queued,
        new Promise((r) => setTimeout(() => r('still pending'), 2_000)),
      ]);
      expect(outcome).toBe('failed: Connection is closed.');
    } finally {
      await server.restart();
    }
  });
});
