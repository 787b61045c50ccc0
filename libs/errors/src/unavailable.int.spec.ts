import { redisPerSuite } from '#libs/testing';
import { isRedisStateReply, unavailableWhenDisconnected } from './unavailable.js';

/** What ioredis rejects with for `command`, from a real redis-server. */
async function failureOf(command: Promise<unknown>): Promise<unknown> {
  try {
    await command;
  } catch (e) {
    return e;
  }
  throw new Error('the command succeeded');
}

describe('Redis refusing commands for its state (real redis-server)', () => {
  const redis = redisPerSuite();

  it('out of memory under noeviction (a command, a script) is unavailable for now; a bad command is not', async () => {
    const client = redis.client;
    await client.config('SET', 'maxmemory', '1');
    try {
      const writes = [
        await failureOf(client.set('k', 'v')),
        await failureOf(client.eval("return redis.call('SET', KEYS[1], 'v')", 1, 'k')),
      ];
      const connected = unavailableWhenDisconnected(client);
      for (const e of writes) {
        expect((e as Error).message).toMatch(/^OOM /);
        expect(isRedisStateReply(e)).toBe(true);
        expect(connected(e)).toBe(true);
      }
    } finally {
      await client.config('SET', 'maxmemory', '0');
    }
    const wrong = await failureOf(client.call('HSET', 'only-a-key'));
    expect(isRedisStateReply(wrong)).toBe(false);
    expect(unavailableWhenDisconnected(client)(wrong)).toBe(false);
  });
});
