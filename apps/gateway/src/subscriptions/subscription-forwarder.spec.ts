import { LocalGraphQLDataSource } from '@apollo/gateway';
import { parse } from 'graphql';
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
import { take, waitFor } from '#libs/testing';
import { KeyBufferBudgets } from './buffered-bytes.js';
import { FIRST_EVENT_ESTIMATE_BYTES } from './resolving-bytes.js';
import { JOB_EVENT_RESUME_POLICY } from './resumable-operation.js';
import { SubscriptionForwarder } from './subscription-forwarder.js';
import { SupergraphRuntime } from './supergraph-runtime.js';
import { UpstreamPool } from './upstream-pool.js';

const identity = TEST_IDENTITY;
const QUERY = JOB_EVENTS_SUBSCRIPTION;

describe('SubscriptionForwarder', () => {
  let log: EventLog;
  let jobs: RunningSubgraph;
  let pool: UpstreamPool;
  let forwarder: SubscriptionForwarder;
  const artifacts = new Map<string, string[]>([['j1', ['model.bin', 'metrics.json']]]);
  let connects = 0;
  /** Progress events the subscribers' buffers replaced with a newer one. */
  let coalesced = 0;

  beforeEach(async () => {
    log = new EventLog();
    jobs = await serveGraphqlWs(jobsSchema(log));
    const runtime = new SupergraphRuntime(composeTestSupergraph());
    connects = 0;
    coalesced = 0;
    pool = new UpstreamPool({
      urls: { jobs: jobs.wsUrl },
      identitySecret: TEST_SECRET,
      pingIntervalMs: 12_000,
      retryBaseMs: 50,
      retryMaxMs: 200,
      retryAttempts: 50,
      idleCloseMs: 50,
      events: { connected: () => void connects++ },
    });
    const dataSources = { artifacts: new LocalGraphQLDataSource(artifactsSchema(artifacts)) };
    forwarder = new SubscriptionForwarder({
      runtime: () => runtime,
      upstream: pool,
      dataSources: () => dataSources,
      policy: JOB_EVENT_RESUME_POLICY,
      bufferCapacity: 8,
      metrics: { event: (outcome) => void (outcome === 'coalesced' && coalesced++) },
    });
  });

  afterEach(async () => {
    await pool.close();
    await jobs.close();
  });

  const subscribe = (query = QUERY, variables: Record<string, unknown> = { id: 'j1' }) =>
    forwarder.subscribe({ document: parse(query), query, variables, identity, context: { identity } });

  /** A forwarder of its own on the same pool, `options` over this suite's (artifacts from `names`). */
  const forwarderWith = (
    options: Partial<ConstructorParameters<typeof SubscriptionForwarder>[0]>,
    names = artifacts,
  ) =>
    new SubscriptionForwarder({
      runtime: () => new SupergraphRuntime(composeTestSupergraph()),
      upstream: pool,
      dataSources: () => ({ artifacts: new LocalGraphQLDataSource(artifactsSchema(names)) }),
      policy: JOB_EVENT_RESUME_POLICY,
      bufferCapacity: 8,
      ...options,
    });
  /** QUERY on `on` for job `id`. */
  const subscribeOn = (on: SubscriptionForwarder, id: string) =>
    on.subscribe({
      document: parse(QUERY),
      query: QUERY,
      variables: { id },
      identity,
      context: { identity },
    });

  it('resolves fields of both subgraphs for every event and hides its own bookkeeping fields', async () => {
    log.append('j1', 'JOB_QUEUED');
    const it = subscribe();
    const [first] = await take(it, 1);
    expect(first).toEqual({
      data: {
        jobEvents: {
          seq: 1,
          type: 'JOB_QUEUED',
          job: { status: 'RUNNING', artifacts: [{ name: 'model.bin' }, { name: 'metrics.json' }] },
        },
      },
    });
    log.append('j1', 'JOB_SUCCEEDED');
    const [second] = await take(it, 1);
    expect(second!.data).toEqual({
      jobEvents: {
        seq: 2,
        type: 'JOB_SUCCEEDED',
        job: { status: 'SUCCEEDED', artifacts: expect.any(Array) },
      },
    });
    expect(log.opened).toEqual([{ jobId: 'j1', after: null, tenant: 'acme', keyId: 'k1' }]);
    await it.return(undefined);
  });

  it('shares identical entity fetches of many subscribers to one event', async () => {
    const shared = forwarderWith({ shareEntityFetches: true });
    log.append('j1', 'JOB_QUEUED');
    const its = Array.from({ length: 20 }, () => subscribeOn(shared, 'j1'));
    const firsts = await Promise.all(its.map(async (it) => (await take(it, 1))[0]!));
    for (const r of firsts)
      expect((r.data as any).jobEvents.job.artifacts).toEqual([
        { name: 'model.bin' },
        { name: 'metrics.json' },
      ]);
    expect(shared.fetches!.sent).toBe(1);
    expect(shared.fetches!.shared).toBe(19);
    await Promise.all(its.map((it) => it.return(undefined)));
  });

  it('resolves every event against the entities as of that event, never an earlier fetch', async () => {
    const names = new Map<string, string[]>([['j2', []]]);
    const batched = forwarderWith({ shareEntityFetches: true }, names);
    const it = subscribeOn(batched, 'j2');
    log.append('j2', 'NODE_SUCCEEDED');
    const [before] = await take(it, 1);
    expect((before!.data as any).jobEvents.job.artifacts).toEqual([]);
    // The artifact is committed before the next event is emitted (as the artifacts subgraph does it).
    names.set('j2', ['thumb.png']);
    log.append('j2', 'JOB_SUCCEEDED');
    const [after] = await take(it, 1);
    expect((after!.data as any).jobEvents).toMatchObject({
      type: 'JOB_SUCCEEDED',
      job: { artifacts: [{ name: 'thumb.png' }] },
    });
    await it.return(undefined);
  });

  it('passes a client `after` through and ends the upstream subscription when the client completes', async () => {
    for (let i = 0; i < 3; i++) log.append('j1', 'LOG');
    const query = 'subscription ($id: ID!, $after: String) { jobEvents(jobId: $id, after: $after) { seq } }';
    const it = subscribe(query, { id: 'j1', after: '1' });
    expect((await take(it, 2)).map((r) => (r.data as any).jobEvents.seq)).toEqual([2, 3]);
    expect(log.opened[0]!.after).toBe('1');
    await it.return(undefined);
    await waitUntil(() => log.ended === 1);
  });

  it('ends the upstream subscription at once when the client completes while nothing is arriving', async () => {
    const it = subscribe('subscription { jobEvents(jobId: "quiet") { seq } }', {});
    const pending = it.next(); // waits for an event that never comes
    await waitUntil(() => log.opened.length === 1);
    await it.return(undefined);
    await expect(pending).resolves.toEqual({ done: true, value: undefined });
    await waitUntil(() => log.ended === 1);
  });

  it('resumes from the last cursor after the subgraph restarts: every event exactly once', async () => {
    const it = subscribe('subscription { jobEvents(jobId: "j1") { seq type } }', {});
    const seen: number[] = [];
    const reader = (async () => {
      for await (const r of it) {
        seen.push((r.data as any).jobEvents.seq);
        if ((r.data as any).jobEvents.type === 'JOB_SUCCEEDED') return;
      }
    })();
    for (let i = 0; i < 5; i++) log.append('j1', 'LOG');
    await waitUntil(() => seen.length === 5);
    await jobs.kill();
    for (let i = 0; i < 5; i++) log.append('j1', 'LOG'); // while the subgraph is down
    await jobs.restart();
    await waitUntil(() => seen.length === 10);
    log.append('j1', 'JOB_SUCCEEDED');
    await reader;
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(connects).toBeGreaterThanOrEqual(2);
    expect(log.opened.map((o) => o.after)).toEqual([null, '5']);
  });

  it('starts a live jobFeed right after the head it reads first: a restart before its first event loses nothing', async () => {
    log.append('j0', 'JOB_QUEUED'); // before the subscription: not owed to it
    const it = subscribe('subscription { jobFeed { jobId type } }', {});
    const seen: string[] = [];
    const reader = (async () => {
      for await (const r of it) seen.push(`${(r.data as any).jobFeed.jobId} ${(r.data as any).jobFeed.type}`);
    })();
    await waitUntil(() => log.feedOpened.length === 1);
    await jobs.kill();
    // published while the subgraph is down, before the subscriber got any event
    log.append('j1', 'JOB_QUEUED');
    log.append('j1', 'JOB_SUCCEEDED');
    await jobs.restart();
    await waitUntil(() => log.feedOpened.length === 2);
    log.append('j2', 'JOB_QUEUED');
    await waitUntil(() => seen.includes('j2 JOB_QUEUED'));
    expect(seen).toEqual(['j1 JOB_QUEUED', 'j1 JOB_SUCCEEDED', 'j2 JOB_QUEUED']);
    // the head (position 1, j0's event) read once; both subscriptions start right after it
    expect(log.headReads).toBe(1);
    expect(log.feedOpened.map((o) => o.after)).toEqual(['1', '1']);
    await it.return(undefined);
    await reader;
  });

  it('ends a live jobFeed whose head cannot be read with the error, rather than starting it "now"', async () => {
    log.headError = 'feed unavailable';
    const it = subscribe('subscription { jobFeed { jobId type } }', {});
    const [result] = await take(it, 2);
    expect(result!.errors?.map((e) => e.message)).toEqual(['feed unavailable']);
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(log.feedOpened).toEqual([]);
  });

  it("reads no head for a jobFeed given `after`: the client's cursor is its start", async () => {
    log.append('j1', 'JOB_QUEUED');
    log.append('j1', 'JOB_SUCCEEDED');
    const it = subscribe('subscription ($a: String) { jobFeed(after: $a) { jobId type } }', { a: '1' });
    expect((await take(it, 1)).map((r) => (r.data as any).jobFeed.type)).toEqual(['JOB_SUCCEEDED']);
    expect(log.headReads).toBe(0);
    expect(log.feedOpened.map((o) => o.after)).toEqual(['1']);
    await it.return(undefined);
  });

  it('drops events it already delivered when an upstream replays them after a reconnect', async () => {
    log.ignoreAfter = true;
    const it = subscribe('subscription { jobEvents(jobId: "j1") { seq } }', {});
    log.append('j1', 'LOG');
    log.append('j1', 'LOG');
    expect((await take(it, 2)).map((r) => (r.data as any).jobEvents.seq)).toEqual([1, 2]);
    await jobs.kill();
    log.append('j1', 'LOG');
    await jobs.restart();
    expect((await take(it, 1)).map((r) => (r.data as any).jobEvents.seq)).toEqual([3]);
    expect(log.opened.length).toBe(2);
    await it.return(undefined);
  });

  it('coalesces queued progress of a node for a slow subscriber but keeps every other event', async () => {
    const it = subscribe('subscription { jobEvents(jobId: "j1") { seq type nodeId progress } }', {});
    log.append('j1', 'NODE_STARTED', { nodeId: 'a' });
    const [started] = await take(it, 1); // opens the subscription, then the client stops reading
    expect((started!.data as any).jobEvents.type).toBe('NODE_STARTED');
    for (let i = 1; i <= 20; i++) log.append('j1', 'NODE_PROGRESS', { nodeId: 'a', progress: i / 20 });
    log.append('j1', 'LOG');
    log.append('j1', 'NODE_SUCCEEDED', { nodeId: 'a' });
    log.append('j1', 'JOB_SUCCEEDED');
    // nobody reads: once the events reach the subscriber's buffer, past half its capacity progress coalesces (a
    // fixed wait here was too short on a loaded machine, and the reads below then took the events as they came)
    await waitFor(() => coalesced > 0, { timeoutMs: 10_000, what: 'queued progress to be coalesced' });
    const rest: any[] = [];
    while (rest.at(-1)?.type !== 'JOB_SUCCEEDED') rest.push(((await it.next()).value!.data as any).jobEvents);
    const progress = rest.filter((e) => e.type === 'NODE_PROGRESS');
    // Half the capacity (4) queues as is; past that, a newer progress of the node replaces the queued ones.
    expect(progress.length).toBeLessThan(20);
    expect(progress.at(-1).progress).toBe(1);
    expect(rest.slice(-3).map((e) => e.type)).toEqual(['LOG', 'NODE_SUCCEEDED', 'JOB_SUCCEEDED']);
    const seqs = rest.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // still in order
    expect(seqs.at(-1)).toBe(24);
    await it.return(undefined);
  });

  it('ends a subscriber that falls too far behind with a resumable error, never silently', async () => {
    const it = subscribe('subscription { jobEvents(jobId: "j1") { seq } }', {});
    log.append('j1', 'LOG');
    await take(it, 1);
    for (let i = 0; i < 30; i++) log.append('j1', 'LOG');
    // The overflow drops the only member, which ends the upstream subscription: wait for that (a fixed 200 ms
    // could pass on a loaded machine before the ninth event was buffered, and the reads below would keep up).
    await waitUntil(() => log.ended === 1);
    const results = await take(it, 40);
    const last = results.at(-1)!;
    expect(last.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', resumeAfter: '9' });
    expect(results.length).toBe(9); // 8 buffered, then the error
    await waitUntil(() => log.ended === 1);
  });

  it("holds the bytes of events still resolving against the key's budget: a burst past it is not resolved, and the stream ends resumably", async () => {
    // entity fetches that wait until released: every event that arrives stays between arrival and hand-off
    let fetches = 0;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const inner = new LocalGraphQLDataSource(artifactsSchema(artifacts));
    const slowArtifacts = {
      process: async (o: Parameters<typeof inner.process>[0]) => {
        fetches++;
        await released;
        return inner.process(o);
      },
    };
    const budgets = new KeyBufferBudgets({ perKey: 10 * FIRST_EVENT_ESTIMATE_BYTES, total: 0 });
    const bounded = forwarderWith({
      dataSources: () => ({ artifacts: slowArtifacts }),
      bufferCapacity: 1000,
      bufferedBytes: budgets,
    });
    const it = subscribeOn(bounded, 'j1');
    await waitUntil(() => log.opened.length === 1);
    for (let i = 0; i < 200; i++) log.append('j1', 'LOG');
    // the eleventh arrival finds the key's bytes held by the ten before it: it and the rest are not resolved
    await waitUntil(() => fetches >= 10);
    await new Promise((r) => setTimeout(r, 300));
    expect(fetches).toBe(10);
    release();
    const results = await take(it, 20);
    expect(results.slice(0, 10).map((r) => (r.data as { jobEvents: { seq: number } }).jobEvents.seq)).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    expect(results[10]!.errors?.[0]?.extensions).toMatchObject({
      code: 'UNAVAILABLE',
      limit: 'bufferedBytesPerKey',
      resumeAfter: '10',
    });
    expect(results).toHaveLength(11);
    await waitUntil(() => log.ended === 1);
    expect(budgets.total).toBe(0);
  });
});

async function waitUntil(fn: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
