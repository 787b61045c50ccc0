import { Redis } from 'ioredis';
import { REDIS_KEYS, type CancelNotice } from '#libs/contracts';
import { redisPerSuite, waitFor } from '#libs/testing';
import { CancelListener } from './cancel-listener.js';

describe('CancelListener (real redis-server)', () => {
  const redis = redisPerSuite();
  let subscriber: Redis;
  beforeAll(() => {
    subscriber = new Redis(redis.url);
  });
  afterAll(() => subscriber.disconnect());

  it('after its connection dropped it subscribes again, says so (notices of the gap may be lost), and hears the next', async () => {
    const notices: CancelNotice[] = [];
    const warnings: string[] = [];
    let resubscribed = 0;
    await new CancelListener(
      subscriber,
      (n) => void notices.push(n),
      { warn: (_o, m) => void warnings.push(m), error: (_o, m) => void warnings.push(m) },
      () => void resubscribed++,
    ).start();
    await redis.client.publish(REDIS_KEYS.cancelChannel, JSON.stringify({ jobId: 'j1', reason: 'first' }));
    await waitFor(() => notices.length === 1, { what: 'the first notice' });
    expect(resubscribed).toBe(0);
    expect(Number(await redis.client.call('CLIENT', 'KILL', 'TYPE', 'pubsub'))).toBe(1);
    await waitFor(() => resubscribed === 1, { timeoutMs: 10_000, what: 'the listener to subscribe again' });
    expect(warnings).toContain(
      'cancel channel subscribed again: reading the cancelled markers of held attempts',
    );
    await redis.client.publish(REDIS_KEYS.cancelChannel, JSON.stringify({ jobId: 'j2', reason: 'second' }));
    await waitFor(() => notices.length === 2, { what: 'the notice after the reconnect' });
    expect(notices.map((n) => n.jobId)).toEqual(['j1', 'j2']);
  });
});
