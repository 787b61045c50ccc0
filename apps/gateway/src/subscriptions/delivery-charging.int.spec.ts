import { LocalGraphQLDataSource } from '@apollo/gateway';
import { parse, type ExecutionResult } from 'graphql';
import { Redis } from 'ioredis';
import {
  artifactsSchema,
  composeTestSupergraph,
  EventLog,
  JOB_EVENTS_SUBSCRIPTION,
  jobsSchema,
  serveGraphqlWs,
  TEST_IDENTITY,
  TEST_SECRET,
  type RunningSubgraph,
} from '../../test/in-memory-subgraphs.js';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { OperationGuard } from '../limits/operation-guard.js';
import { DEFAULT_GUARD_LIMITS } from '../limits/test/guard-fixtures.js';
import { TokenBucketLimiter } from '../limits/token-bucket.js';
import type { DirectSink } from './direct-delivery.js';
import { JOB_EVENT_RESUME_POLICY } from './resumable-operation.js';
import { SubscriptionForwarder } from './subscription-forwarder.js';
import { SupergraphRuntime } from './supergraph-runtime.js';
import { UpstreamPool } from './upstream-pool.js';

/**
 * Delivered events are charged to the key's bucket (a real one, in Redis): a subscription whose events cost
 * more than the key may spend is ended with RATE_LIMITED and the cursor of the last event it was sent; the
 * key's other subscriptions go on.
 */
describe('SubscriptionForwarder: charging delivered events', () => {
  let server: RedisHandle;
  let redis: Redis;
  let log: EventLog;
  let jobs: RunningSubgraph;
  let pool: UpstreamPool;
  let forwarder: SubscriptionForwarder;
  let guard: OperationGuard;
  const refused: string[] = [];

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    await redis.quit();
    await server.stop();
  });

  beforeEach(async () => {
    await redis.flushall();
    log = new EventLog();
    jobs = await serveGraphqlWs(jobsSchema(log));
    const runtime = new SupergraphRuntime(composeTestSupergraph());
    pool = new UpstreamPool({
      urls: { jobs: jobs.wsUrl },
      identitySecret: TEST_SECRET,
      pingIntervalMs: 12_000,
      retryBaseMs: 50,
      retryMaxMs: 200,
      retryAttempts: 50,
      idleCloseMs: 50,
    });
    // two tokens, then one a minute: the refusal's retry time is 60 s, well past the test
    guard = new OperationGuard(
      new TokenBucketLimiter(redis, { perMinute: 1, burst: 2 }),
      DEFAULT_GUARD_LIMITS,
      {
        refused: (reason) => void refused.push(reason),
      },
    );
    const dataSources = { artifacts: new LocalGraphQLDataSource(artifactsSchema(new Map())) };
    forwarder = new SubscriptionForwarder({
      runtime: () => runtime,
      upstream: pool,
      dataSources: () => dataSources,
      policy: JOB_EVENT_RESUME_POLICY,
      bufferCapacity: 64,
      shareSubscriptions: true,
      // a token per 100 of cost delivered
      charge: {
        take: (keyId, tokens) => guard.chargeDelivered(keyId, tokens),
        costPerToken: 100,
        maxBatch: guard.burst,
      },
    });
    refused.length = 0;
  });

  afterEach(async () => {
    await pool.close();
    await jobs.close();
  });

  /** Where the forwarder writes events directly (as to a graphql-ws socket), parsed. */
  const sink = () => {
    const frames: ExecutionResult[] = [];
    const direct: DirectSink = {
      ready: () => true,
      whenReady: async () => {},
      next: (json) => {
        frames.push(JSON.parse(json));
        return null;
      },
    };
    return { frames, direct };
  };
  const seqs = (frames: ExecutionResult[]) => frames.map((f) => (f.data as any).jobEvents.seq as number);

  it('ends a subscription whose events outspend the bucket with RATE_LIMITED, resumeAfter its last event; the others go on', async () => {
    for (let i = 0; i < 40; i++) log.append('j1', 'NODE_STARTED');
    const query = JOB_EVENTS_SUBSCRIPTION;
    const heavy = sink();
    const cheap = sink();
    const subscribe = (direct: DirectSink, eventCost: number) =>
      forwarder.subscribe({
        document: parse(query),
        query,
        variables: { id: 'j1' },
        identity: TEST_IDENTITY,
        context: { identity: TEST_IDENTITY },
        direct,
        eventCost,
      });
    // 50 per event: a token per two events, the burst spent by the fourth, refused from the sixth
    const heavyIt = subscribe(heavy.direct, 50);
    // the same key, the same stream (shared): 1 per event, under a token for all 40
    const cheapIt = subscribe(cheap.direct, 1);
    const cheapNext = cheapIt.next();

    const ended = await heavyIt.next();
    expect(ended.done).toBe(false);
    const [error] = ended.value!.errors!;
    const delivered = seqs(heavy.frames);
    expect(error!.extensions).toEqual({
      code: 'RATE_LIMITED',
      limit: 'subscriptionEvents',
      retryAfterSeconds: expect.any(Number),
      resumeAfter: String(delivered.at(-1)),
    });
    expect(error!.extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(delivered.length).toBeGreaterThanOrEqual(6);
    expect(delivered).toEqual(Array.from({ length: delivered.length }, (_, i) => i + 1));
    expect((await heavyIt.next()).done).toBe(true);
    expect(refused).toEqual(['subscriptionEvents']);

    // the cheap one got everything, and goes on alone on the one upstream stream; the heavy one gets no more
    log.append('j1', 'NODE_STARTED');
    await waitFor(() => cheap.frames.length === 41);
    expect(seqs(cheap.frames)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(heavy.frames).toHaveLength(delivered.length);
    expect(log.opened).toHaveLength(1);
    await cheapIt.return(undefined);
    await cheapNext;
    await waitFor(() => log.ended === 1);
  });

  it('charges the events queued for a client that does not read: it is ended RATE_LIMITED all the same, and resumes from the start', async () => {
    for (let i = 0; i < 40; i++) log.append('j1', 'NODE_STARTED');
    const query = JOB_EVENTS_SUBSCRIPTION;
    // a socket that never drains: nothing is written, every event waits in the subscriber's buffer
    let readable = false;
    const wakes: (() => void)[] = [];
    const direct: DirectSink = {
      ready: () => readable,
      whenReady: () => new Promise<void>((resolve) => wakes.push(resolve)),
      next: () => {
        throw new Error('nothing is written to a socket that is backed up');
      },
    };
    const it = forwarder.subscribe({
      document: parse(query),
      query,
      variables: { id: 'j1' },
      identity: TEST_IDENTITY,
      context: { identity: TEST_IDENTITY },
      direct,
      eventCost: 50,
    });
    const next = it.next();
    // the events were resolved for it: charged as they reached it (the old forwarder charged only what was written)
    await waitFor(() => refused.includes('subscriptionEvents'));
    // the upstream share ended with it (its queued events given up): the client learns it when it reads again
    await waitFor(() => log.ended === 1);
    readable = true;
    for (const wake of wakes.splice(0)) wake();
    const ended = await next;
    expect(ended.done).toBe(false);
    expect(ended.value!.errors![0]!.extensions).toEqual({
      code: 'RATE_LIMITED',
      limit: 'subscriptionEvents',
      retryAfterSeconds: expect.any(Number),
    });
    expect((await it.next()).done).toBe(true);
  });

  it('a cheap selection takes no token: the key keeps its whole burst', async () => {
    for (let i = 0; i < 99; i++) log.append('j1', 'NODE_STARTED');
    const query = JOB_EVENTS_SUBSCRIPTION;
    const cheap = sink();
    const it = forwarder.subscribe({
      document: parse(query),
      query,
      variables: { id: 'j1' },
      identity: TEST_IDENTITY,
      context: { identity: TEST_IDENTITY },
      direct: cheap.direct,
      eventCost: 1,
    });
    const next = it.next();
    await waitFor(() => cheap.frames.length === 99);
    await it.return(undefined);
    await next;
    expect(await guard.chargeDelivered(TEST_IDENTITY.keyId, 2)).toEqual({ allowed: true });
  });
});
