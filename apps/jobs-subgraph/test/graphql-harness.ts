import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import {
  ConnectionQuota,
  CONNECTIONS_PER_KEY_DEFAULT,
  connectionSlotsKey,
  SharedSubscriptionSlots,
  SUBSCRIPTION_QUOTA_DEFAULTS,
  SubscriptionQuota,
} from '#libs/auth';
import { startRedis, type RedisHandle } from '#libs/testing';
import { createJobsGraphql, type JobsGraphql } from '../src/graphql/graphql-server.js';
import { createSubscriptionQuotaMetrics } from '../src/jobs-metrics.js';
import { startCore, type CoreHarness } from './harness.js';
import { TEST_SECRET } from './graphql-client.js';
import { TEST_TASKS } from './test-tasks.js';
import { TestWorker } from './test-worker.js';

export interface ServedGraphql {
  /** http://127.0.0.1:<port> (the API is at /graphql). */
  url: string;
  close(): Promise<void>;
}

/** A JobsGraphql on /graphql of a loopback HTTP server on a free port, graphql-ws on the same server if asked. */
export async function serveGraphql(
  graphql: JobsGraphql,
  o: { websocket?: boolean } = {},
): Promise<ServedGraphql> {
  const app = express();
  app.use('/graphql', ...graphql.middleware);
  const http = createServer(app);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  if (o.websocket) graphql.attachWebSocket(http);
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => http.close(() => r())),
  };
}

export interface GraphqlHarness {
  redisUrl: string;
  core: CoreHarness;
  /** The worker running the test tasks (registered, heartbeating). */
  worker: TestWorker;
  /**
   * For a server of the test's own that accepts direct callers (api-key, jwt): the app's default bounds
   * (MAX_SUBSCRIPTIONS_PER_CONNECTION 100, _PER_KEY 1000), counted on the core's Redis; its refusals counted in
   * the app's metric (switchyard_subscription_quota_refusals_total), as JobsRuntime wires it.
   */
  subscriptionQuota: SubscriptionQuota;
  /** The app's default MAX_CONNECTIONS_PER_KEY (1000), counted on the core's Redis: for the same servers. */
  connectionQuota: ConnectionQuota;
  url: string;
  /** `test.add` attempts wait from now until releaseAdds() (jobs held unfinished, mid-run). */
  holdAdds(): void;
  releaseAdds(): void;
  /** Stops all of it (releasing held adds first); also what a failed start has already done. */
  stop(): Promise<void>;
}

/**
 * The jobs subgraph's GraphQL as the app serves it (signed-identity mode, production settings) over a real
 * redis-server: the core, a TestWorker running the CPU test tasks (`test.emit`, `test.add`, `test.join`), the
 * HTTP server. A start that fails half way stops what it started before it throws.
 */
export async function startGraphqlHarness(
  o: { core?: Parameters<typeof startCore>[1]; websocket?: boolean } = {},
): Promise<GraphqlHarness> {
  let gate = Promise.resolve();
  let release: () => void = () => undefined;
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    release();
    for (const s of stops.reverse()) await s();
    stops.length = 0;
  };
  try {
    const redis: RedisHandle = await startRedis();
    stops.push(() => redis.stop());
    const core = await startCore(redis.url, o.core);
    stops.push(() => core.close());
    const slots = new SharedSubscriptionSlots(core.redis);
    stops.push(() => slots.close());
    const subscriptionQuota = new SubscriptionQuota(
      SUBSCRIPTION_QUOTA_DEFAULTS.perConnection,
      SUBSCRIPTION_QUOTA_DEFAULTS.perKey,
      slots,
      createSubscriptionQuotaMetrics(),
    );
    const connectionSlots = new SharedSubscriptionSlots(core.redis, { redisKey: connectionSlotsKey });
    stops.push(() => connectionSlots.close());
    const connectionQuota = new ConnectionQuota(CONNECTIONS_PER_KEY_DEFAULT, connectionSlots);
    const worker = await new TestWorker({
      url: redis.url,
      tasks: Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0),
      handlers: {
        'test.emit': async (p) => ({ value: p.inputs.value as number }),
        'test.add': async (p) => {
          await gate;
          return { sum: (p.inputs.a as number) + (p.inputs.b as number) };
        },
        'test.join': async (p) => ({ total: (p.inputs.left as number) + (p.inputs.right as number) }),
      },
    }).start();
    stops.push(() => worker.stop());
    const graphql = await createJobsGraphql(core.service, { identitySecret: TEST_SECRET, production: true });
    const served = await serveGraphql(graphql, { websocket: o.websocket }).catch(async (e: unknown) => {
      await graphql.stop();
      throw e;
    });
    // its WebSocket clients first: the HTTP server's close waits for every connection
    stops.push(async () => {
      await graphql.stop();
      await served.close();
    });
    return {
      redisUrl: redis.url,
      core,
      worker,
      subscriptionQuota,
      connectionQuota,
      url: served.url,
      holdAdds: () => {
        gate = new Promise<void>((r) => (release = r));
      },
      releaseAdds: () => release(),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
