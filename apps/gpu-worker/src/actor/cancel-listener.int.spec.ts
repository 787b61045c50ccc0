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

  it('a refused SUBSCRIBE after a reconnect is logged and tried again; the markers are read once it is in', async () => {
    // a user of its own, whose channels the test takes away
    await redis.client.call('ACL', 'SETUSER', 'cancel-worker', 'on', '>pw', '~*', '&*', '+@all');
    // ioredis's own SUBSCRIBE after the reconnect, refused, rejects with nobody to catch it: off, ours is tested
    const own = new Redis(redis.url, {
      username: 'cancel-worker',
      password: 'pw',
      retryStrategy: () => 50,
      autoResubscribe: false,
    });
    const errors: Array<{ msg: string; attempt: number }> = [];
    let resubscribed = 0;
    try {
      await new CancelListener(
        own,
        () => undefined,
        {
          warn: () => undefined,
          error: (o, msg) => void errors.push({ msg, attempt: (o as { attempt: number }).attempt }),
        },
        () => void resubscribed++,
        100,
      ).start();
      // the worker's user loses the channel (an ACL change): Redis drops the connection, refuses the SUBSCRIBE
      await redis.client.call('ACL', 'SETUSER', 'cancel-worker', 'resetchannels');
      try {
        await waitFor(() => errors.some((e) => e.attempt >= 2), {
          timeoutMs: 5_000,
          what: 'the refused SUBSCRIBE to be logged and tried again',
        });
        expect(errors[0]!.msg).toBe('cancel channel: subscribing again failed (retrying)');
        expect(resubscribed).toBe(0);
      } finally {
        await redis.client.call('ACL', 'SETUSER', 'cancel-worker', 'allchannels');
      }
      await waitFor(() => resubscribed === 1, { timeoutMs: 5_000, what: 'the markers read once subscribed' });
      const subscribed = (await redis.client.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
      expect(subscribed).toMatch(/ sub=1 .* user=cancel-worker /);
    } finally {
      own.disconnect();
      await redis.client.call('ACL', 'DELUSER', 'cancel-worker');
    }
  });
});
