import { Redis, type RedisOptions } from 'ioredis';
import { startDelayProxy, startRedis, waitFor, type DelayProxy, type RedisHandle } from '#libs/testing';
import { Wakeups } from './wakeups.js';

/** Real redis-server, SIGKILLed and restarted on the same port; the subscriber connection goes through a proxy. */
describe('Wakeups after a Redis restart', () => {
  let server: RedisHandle;
  let proxy: DelayProxy;
  const connections: Redis[] = [];
  const connection = (url: string, extra: RedisOptions = {}) => {
    const r = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50, ...extra });
    connections.push(r);
    return r;
  };
  const lines: Array<{ level: string; msg: string; fields: object }> = [];
  const logger = {
    info: (fields: object, msg: string) => void lines.push({ level: 'info', msg, fields }),
    error: (fields: object, msg: string) => void lines.push({ level: 'error', msg, fields }),
  };

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startDelayProxy(server.port);
  });
  afterEach(() => {
    for (const r of connections.splice(0)) r.disconnect();
    proxy.delayMs = 0;
    lines.length = 0;
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  const numsub = async (redis: Redis, channel: string) =>
    Number(((await redis.pubsub('NUMSUB', channel)) as [string, number])[1]);

  it('re-reads only once the channel is subscribed again: a wake-up published at the re-read is not lost', async () => {
    const subscriber = connection(`redis://127.0.0.1:${proxy.port}`);
    const wakeups = new Wakeups(subscriber, logger);
    const channel = 'feed:acme';
    let restarted = false;
    let calls = 0;
    let seenAtReread: Promise<number> | undefined;
    // another process's connection (a replica committing a transition); not slowed down
    const probe = connection(server.url);
    await wakeups.listen(
      channel,
      () => {
        if (!restarted) return;
        calls++;
        // the re-read: a transition committed right now publishes right now, on another connection
        if (calls === 1)
          seenAtReread = (async () => {
            const n = await numsub(probe, channel);
            await probe.publish(channel, 'job-1');
            return n;
          })();
      },
      'job-1',
    );
    // the subscriber's link to Redis is slower than the readers' (any two TCP connections may differ)
    proxy.delayMs = 300;
    await server.kill('SIGKILL');
    await server.restart();
    await probe.ping();
    restarted = true;
    await waitFor(() => seenAtReread !== undefined, {
      timeoutMs: 10_000,
      what: 'the re-read after the restart',
    });
    await waitFor(() => calls === 2, { timeoutMs: 3_000, what: 'the wake-up published at the re-read' });
    // Redis already delivered to this subscriber when the re-read ran
    expect(await seenAtReread).toBe(1);
    expect(lines.map((l) => l.msg)).toContain('event channels subscribed again: subscribers read again');
  });

  it('a refused SUBSCRIBE after a reconnect is logged and tried again; subscribers read again once it is in', async () => {
    const admin = connection(server.url);
    // a user of its own, whose channels the test takes away
    await admin.call('ACL', 'SETUSER', 'events', 'on', '>pw', '~*', '&*', '+@all');
    // ioredis's own SUBSCRIBE after the reconnect, refused, rejects with nobody to catch it (the apps log
    // unhandled rejections; here it would fail the test): off, ours is what is tested
    const subscriber = connection(server.url, { username: 'events', password: 'pw', autoResubscribe: false });
    await subscriber.ping();
    const wakeups = new Wakeups(subscriber, logger, 100);
    const channel = 'feed:locked';
    const numsubAtRead: Array<Promise<number>> = [];
    await wakeups.listen(channel, () => void numsubAtRead.push(numsub(admin, channel)));
    // the subscriber's user loses the channel (an ACL change): Redis drops the connection and refuses the
    // SUBSCRIBE on the next one
    await admin.call('ACL', 'SETUSER', 'events', 'resetchannels');
    try {
      await waitFor(
        () => lines.some((l) => l.level === 'error' && (l.fields as { attempt: number }).attempt >= 2),
        { timeoutMs: 5_000, what: 'the refused SUBSCRIBE to be logged and tried again' },
      );
      expect(lines.find((l) => l.level === 'error')?.msg).toBe(
        'event channels: subscribing again failed; subscribers wait for it (retrying)',
      );
      expect(numsubAtRead).toEqual([]); // no read before the subscription is back
    } finally {
      await admin.call('ACL', 'SETUSER', 'events', 'allchannels');
    }
    await waitFor(() => numsubAtRead.length === 1, { timeoutMs: 5_000, what: 'the read once subscribed' });
    expect(await numsubAtRead[0]).toBe(1);
  });
});
