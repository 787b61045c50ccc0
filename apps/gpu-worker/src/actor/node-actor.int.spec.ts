import { connect, createServer, type Server, type Socket } from 'node:net';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BULLMQ_PREFIX, NODE_QUEUES, REDIS_KEYS, attemptJobId, parseReportEntry } from '#libs/contracts';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { NO_WORKER_METRICS, type WorkerMetrics } from '../worker-metrics.js';
import { NodeActor } from './node-actor.js';
import { testActorOptions } from './test/actor-options.js';

/**
 * A TCP proxy in front of Redis whose existing connections can be frozen: bytes stop flowing but the
 * sockets stay open, as with a half-open connection after a partition. New connections pass.
 */
async function startFreezableProxy(
  targetPort: number,
): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  const pairs: Array<[Socket, Socket]> = [];
  const frozen: Array<[Socket, Socket]> = [];
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    pairs.push([client, upstream]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    freeze() {
      for (const [client, upstream] of pairs.splice(0)) {
        frozen.push([client, upstream]);
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    async close() {
      for (const [c, u] of [...pairs, ...frozen]) {
        c.destroy();
        u.destroy();
      }
      await new Promise((r) => server.close(r));
    },
  };
}

const seen: string[] = [];
const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: (_o: object, m: string) => void seen.push(m),
  error: (_o: object, m: string) => void seen.push(m),
};

describe('NodeActor fetch watchdog', () => {
  let redis: RedisHandle;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    client.disconnect();
    await redis.stop();
  });

  it('recreates a BullMQ worker whose blocking connection stopped answering', async () => {
    const proxy = await startFreezableProxy(redis.port);
    const recreated: string[] = [];
    const metrics: WorkerMetrics = {
      ...NO_WORKER_METRICS,
      fetchWatchdogRecreated: (id) => recreated.push(id),
    };
    const queue = new Queue(NODE_QUEUES.cpu, { connection: client, prefix: BULLMQ_PREFIX });
    const workerConnections: Redis[] = [];
    const actor = new NodeActor(
      testActorOptions({
        workerId: 'wd',
        redisUrl: redis.url,
        client,
        queue,
        metrics,
        logger: quiet,
        overrides: {
          createWorkerConnection: () => {
            const r = new Redis(`redis://127.0.0.1:${proxy.port}`, { maxRetriesPerRequest: null });
            r.on('error', () => undefined);
            workerConnections.push(r);
            return r;
          },
        },
      }),
    );
    try {
      await actor.start();
      // let the worker block on its fetch, then cut it off without closing the socket (polled: Redis lists a
      // blocked client with flag b; a fixed 500 ms could end before that on a loaded machine)
      await waitFor(
        async () =>
          String(await client.call('CLIENT', 'LIST'))
            .split('\n')
            .some((l) => /\bflags=\S*b/.test(l)),
        { timeoutMs: 10_000, what: 'the worker to block on its fetch' },
      );
      proxy.freeze();
      await queue.add(
        'test.sleep',
        {
          jobId: 'j-wd',
          tenant: 'acme',
          nodeId: 'a',
          attempt: 1,
          maxAttempts: 1,
          task: 'test.sleep',
          taskVersion: '1.0.0',
          inputs: { ms: 10 },
          timeoutMs: 10_000,
          enqueuedAt: new Date().toISOString(),
        },
        { jobId: attemptJobId('j-wd', 'a', 1) },
      );

      const succeeded = await waitFor(
        async () =>
          (await client.xrange(REDIS_KEYS.reports, '-', '+'))
            .flatMap(([, f]) => parseReportEntry(f))
            .find((r) => r.jobId === 'j-wd' && r.type === 'succeeded'),
        { timeoutMs: 20_000, what: 'the attempt to run on a recreated worker', logs: () => seen.join('\n') },
      );
      expect(succeeded.workerId).toBe('wd');
      expect(recreated).toEqual(['wd/cpu0']);
      expect(workerConnections.length).toBe(2);
    } finally {
      await actor.drain(1_000, 10_000);
      await queue.close();
      await proxy.close();
    }
  });
});
