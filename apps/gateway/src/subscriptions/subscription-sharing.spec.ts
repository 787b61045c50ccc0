import { LocalGraphQLDataSource, type GraphQLDataSource } from '@apollo/gateway';
import { parse, type ExecutionResult } from 'graphql';
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
import { take } from '#libs/testing';
import { BufferBudgetExceeded } from './buffered-bytes.js';
import type { DirectSink } from './direct-delivery.js';
import { JOB_EVENT_RESUME_POLICY } from './resumable-operation.js';
import { SubscriptionForwarder } from './subscription-forwarder.js';
import { SupergraphRuntime } from './supergraph-runtime.js';
import { UpstreamPool } from './upstream-pool.js';

const acme = TEST_IDENTITY;
const QUERY = JOB_EVENTS_SUBSCRIPTION;

const seqs = (rs: ExecutionResult[]) => rs.map((r) => (r.data as any)?.jobEvents?.seq);

/** Identical subscriptions through one forwarder share one upstream subscription and one fetch per event. */
describe('SubscriptionForwarder sharing', () => {
  let log: EventLog;
  let jobs: RunningSubgraph;
  let pool: UpstreamPool;
  let forwarder: SubscriptionForwarder;
  let artifactFetches: number;
  /** The key id each artifacts fetch was made on behalf of (the data sources sign the context's identity). */
  let artifactFetchKeys: string[];

  const makeForwarder = (
    retryAttempts = 50,
    bufferCapacity = 8,
    flushDirectWrites?: (burstEnded: boolean) => void,
  ) => {
    pool = new UpstreamPool({
      urls: { jobs: jobs.wsUrl },
      identitySecret: TEST_SECRET,
      pingIntervalMs: 12_000,
      retryBaseMs: 20,
      retryMaxMs: 50,
      retryAttempts,
      idleCloseMs: 50,
    });
    const runtime = new SupergraphRuntime(composeTestSupergraph());
    const local = new LocalGraphQLDataSource(artifactsSchema(new Map([['j1', ['model.bin']]])));
    const counted: GraphQLDataSource = {
      process: (o) => {
        artifactFetches++;
        artifactFetchKeys.push((o.context as { identity: { keyId: string } }).identity.keyId);
        return local.process(o);
      },
    };
    forwarder = new SubscriptionForwarder({
      runtime: () => runtime,
      upstream: pool,
      dataSources: () => ({ artifacts: counted }),
      policy: JOB_EVENT_RESUME_POLICY,
      bufferCapacity,
      shareEntityFetches: true,
      flushDirectWrites,
    });
  };

  beforeEach(async () => {
    log = new EventLog();
    jobs = await serveGraphqlWs(jobsSchema(log));
    artifactFetches = 0;
    artifactFetchKeys = [];
    makeForwarder();
  });

  afterEach(async () => {
    await pool.close();
    await jobs.close();
  });

  const subscribe = (
    identity = acme,
    variables: Record<string, unknown> = { id: 'j1' },
    query = QUERY,
  ): AsyncGenerator<ExecutionResult> =>
    forwarder.subscribe({ document: parse(query), query, variables, identity, context: { identity } });

  it('100 identical subscribers: one upstream subscription, one entity fetch per event, all events each', async () => {
    const its = Array.from({ length: 100 }, () => subscribe());
    const all: ExecutionResult[][] = its.map(() => []);
    // one event at a time (events arriving together may share one fetch, started after all of them)
    for (const type of ['JOB_QUEUED', 'LOG', 'JOB_SUCCEEDED']) {
      log.append('j1', type);
      const got = await Promise.all(its.map((it) => take(it, 1)));
      got.forEach((rs, i) => all[i]!.push(...rs));
    }
    for (const rs of all) {
      expect(seqs(rs)).toEqual([1, 2, 3]);
      expect((rs[2]!.data as any).jobEvents.job).toEqual({
        status: 'SUCCEEDED',
        artifacts: [{ name: 'model.bin' }],
      });
    }
    expect(log.opened).toHaveLength(1);
    expect(artifactFetches).toBe(3);
    expect(forwarder.sharing.opened).toBe(1);
    expect(forwarder.sharing.joinedShared).toBe(99);
    await Promise.all(its.map((it) => it.return(undefined)));
    await waitUntil(() => log.ended === 1);
  });

  it('a late joiner still gets every event from seq 1, then the live ones, without a second upstream', async () => {
    const early = subscribe();
    log.append('j1', 'JOB_QUEUED');
    log.append('j1', 'LOG');
    expect(seqs(await take(early, 2))).toEqual([1, 2]);
    const late = subscribe();
    log.append('j1', 'LOG');
    expect(seqs(await take(late, 3))).toEqual([1, 2, 3]);
    expect(seqs(await take(early, 1))).toEqual([3]);
    expect(log.opened).toHaveLength(1);
    // a late joiner asking for a cursor is a different subscription: its own upstream, from there
    const fromCursor = subscribe(
      acme,
      { id: 'j1', after: '2' },
      QUERY.replace('$id: ID!', '$id: ID!, $after: String').replace(
        'jobId: $id',
        'jobId: $id, after: $after',
      ),
    );
    expect(seqs(await take(fromCursor, 1))).toEqual([3]);
    expect(log.opened.map((o) => o.after)).toEqual([null, '2']);
    await Promise.all([early, late, fromCursor].map((it) => it.return(undefined)));
  });

  it('one subscriber completing leaves the others running; the last one ends the upstream', async () => {
    const [a, b, c] = [subscribe(), subscribe(), subscribe()];
    log.append('j1', 'JOB_QUEUED');
    await Promise.all([a, b, c].map((it) => take(it!, 1)));
    await a!.return(undefined);
    expect(await a!.next()).toEqual({ done: true, value: undefined });
    log.append('j1', 'LOG');
    expect(seqs(await take(b!, 1))).toEqual([2]);
    await b!.return(undefined);
    expect(seqs(await take(c!, 1))).toEqual([2]);
    expect(log.ended).toBe(0);
    // a, whose identity the upstream ran under, left: b and c have the same key, so nothing moved
    expect(log.opened).toHaveLength(1);
    await c!.return(undefined);
    await waitUntil(() => log.ended === 1);
  });

  it('the subscriber the upstream runs under leaving moves it to one still there, resuming after the last event', async () => {
    const first = subscribe(acme);
    log.append('j1', 'JOB_QUEUED');
    log.append('j1', 'LOG');
    expect(seqs(await take(first, 2))).toEqual([1, 2]);
    // another key of the same tenant and permissions: shares the upstream opened under k1
    const [kept, alsoKept] = [subscribe({ ...acme, keyId: 'k2' }), subscribe({ ...acme, keyId: 'k3' })];
    expect(seqs(await take(kept, 2))).toEqual([1, 2]);
    expect(seqs(await take(alsoKept, 2))).toEqual([1, 2]);
    const fetchesBefore = artifactFetchKeys.length;
    await first.return(undefined);
    log.append('j1', 'LOG'); // during the handover
    await waitUntil(() => log.opened.length === 2 && log.ended === 1);
    // the subgraph now serves the stream to k2 (the oldest one left), from right after the last event
    expect(log.opened.map((o) => [o.keyId, o.after])).toEqual([
      ['k1', null],
      ['k2', '2'],
    ]);
    log.append('j1', 'JOB_SUCCEEDED');
    log.complete('j1');
    // every event exactly once, then the end
    for (const it of [kept, alsoKept]) expect(seqs(await take(it, 10))).toEqual([3, 4]);
    // the entity fetches of events 3 and 4 were made on behalf of k2 too
    expect(new Set(artifactFetchKeys.slice(fetchesBefore))).toEqual(new Set(['k2']));
    expect(log.opened).toHaveLength(2);
  });

  const FEED = 'subscription { jobFeed { jobId type } }';
  const feedOf = (rs: ExecutionResult[]) =>
    rs.map((r) => `${(r.data as any)?.jobFeed?.jobId} ${(r.data as any)?.jobFeed?.type}`);

  it('a live jobFeed moved to another sharer before its first event resumes from its head: nothing published during the move is lost', async () => {
    const first = subscribe(acme, {}, FEED);
    await waitUntil(() => log.feedOpened.length === 1);
    const kept = subscribe({ ...acme, keyId: 'k2' }, {}, FEED);
    await first.return(undefined);
    log.append('j1', 'JOB_QUEUED'); // during the handover
    await waitUntil(() => log.feedOpened.length === 2 && log.ended === 1);
    log.append('j1', 'JOB_SUCCEEDED');
    expect(feedOf(await take(kept, 1))).toEqual(['j1 JOB_QUEUED']);
    expect(feedOf(await take(kept, 1))).toEqual(['j1 JOB_SUCCEEDED']);
    expect(log.feedOpened).toEqual([
      { after: '0', keyId: 'k1' },
      { after: '0', keyId: 'k2' },
    ]);
    expect(log.headReads).toBe(1);
    await kept.return(undefined);
  });

  it('a live jobFeed whose sharer leaves while its head is read opens once, under one still there', async () => {
    const first = subscribe(acme, {}, FEED);
    const kept = subscribe({ ...acme, keyId: 'k2' }, {}, FEED);
    await first.return(undefined);
    await waitUntil(() => log.feedOpened.length === 1);
    log.append('j1', 'JOB_QUEUED');
    expect(feedOf(await take(kept, 1))).toEqual(['j1 JOB_QUEUED']);
    expect(log.feedOpened).toEqual([{ after: '0', keyId: 'k2' }]);
    expect(log.headReads).toBe(1);
    await kept.return(undefined);
  });

  it('does not share across tenants, scopes or variables', async () => {
    const globex = { ...acme, tenant: 'globex' };
    const readOnly = { ...acme, scopes: ['jobs:read' as const] };
    const its = [
      subscribe(),
      subscribe(),
      subscribe(globex),
      subscribe(readOnly),
      subscribe(acme, { id: 'j2' }),
      subscribe({ ...acme, keyId: 'k2', scopes: ['artifacts:read', 'jobs:read'] }), // same permissions
    ];
    log.append('j1', 'JOB_QUEUED');
    log.append('j2', 'JOB_QUEUED');
    await Promise.all(its.map((it) => take(it, 1)));
    expect(log.opened.map((o) => `${o.tenant}:${o.jobId}`).sort()).toEqual([
      'acme:j1',
      'acme:j1',
      'acme:j2',
      'globex:j1',
    ]);
    await Promise.all(its.map((it) => it.return(undefined)));
  });

  it('an upstream failure reaches every sharer, each with its own resume cursor', async () => {
    await pool.close();
    makeForwarder(1);
    const a = subscribe();
    log.append('j1', 'JOB_QUEUED');
    log.append('j1', 'LOG');
    expect(seqs(await take(a, 2))).toEqual([1, 2]);
    const b = subscribe(); // joins late: replayed 1 and 2, reads only the first
    expect(seqs(await take(b, 1))).toEqual([1]);
    await jobs.kill();
    const rest = await Promise.all([take(a, 5), take(b, 5)]);
    expect(rest[0]!.map((r) => r.errors?.[0]?.extensions)).toEqual([
      { code: 'UNAVAILABLE', resumeAfter: '2' },
    ]);
    // b still gets the event it had not read, then the error naming it
    expect(seqs(rest[1]!.slice(0, 1))).toEqual([2]);
    expect(rest[1]![1]!.errors?.[0]?.extensions).toEqual({ code: 'UNAVAILABLE', resumeAfter: '2' });
    await jobs.restart();
  });

  it('a slow sharer overflows alone; the others get every event', async () => {
    const slow = subscribe(acme, { id: 'j1' }, 'subscription ($id: ID!) { jobEvents(jobId: $id) { seq } }');
    const fast = subscribe(acme, { id: 'j1' }, 'subscription ($id: ID!) { jobEvents(jobId: $id) { seq } }');
    log.append('j1', 'LOG');
    await Promise.all([take(slow, 1), take(fast, 1)]);
    const reader = take(fast, 29);
    for (let i = 0; i < 29; i++) log.append('j1', 'LOG');
    expect(seqs(await reader)).toEqual(Array.from({ length: 29 }, (_, i) => i + 2));
    const slowRest = await take(slow, 40);
    expect(slowRest.at(-1)!.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', resumeAfter: '9' });
    expect(log.opened).toHaveLength(1);
    expect(log.ended).toBe(0); // the fast one still holds the upstream
    await fast.return(undefined);
    await waitUntil(() => log.ended === 1);
  });

  it('direct delivery: graphql-ws next frames written by the stream, the payload serialised once per event; a sink that is not ready lets the buffer overflow', async () => {
    type Frame = { id: string; type: string; payload: ExecutionResult };
    const frames = new Map<string, Frame[]>();
    const payloads: string[] = [];
    let cReady = false;
    const waiting: (() => void)[] = [];
    const sink = (id: string): DirectSink => ({
      ready: () => id !== 'c' || cReady,
      whenReady: () => new Promise<void>((r) => waiting.push(r)),
      next: (json) => {
        payloads.push(json);
        const frame = JSON.parse(`{"id":${JSON.stringify(id)},"type":"next","payload":${json}}`) as Frame;
        frames.set(id, [...(frames.get(id) ?? []), frame]);
        return null;
      },
    });
    const direct = (id: string) =>
      forwarder.subscribe({
        document: parse(QUERY),
        query: QUERY,
        variables: { id: 'j1' },
        identity: acme,
        context: { identity: acme },
        direct: sink(id),
      });
    const a = direct('a');
    const b = direct('b');
    // the iterators yield nothing while events go to the sink: they settle only at the end (or an error)
    const endA = a.next();
    const endB = b.next();
    for (const type of ['JOB_QUEUED', 'LOG', 'LOG']) log.append('j1', type);
    await waitUntil(() => (frames.get('a')?.length ?? 0) === 3 && (frames.get('b')?.length ?? 0) === 3);
    expect(frames.get('a')!.map((f) => [f.id, f.type, (f.payload.data as any).jobEvents.seq])).toEqual([
      ['a', 'next', 1],
      ['a', 'next', 2],
      ['a', 'next', 3],
    ]);
    // one JSON text per event, the same for both subscribers (same string object from the cache)
    expect(payloads[0]).toBe(payloads[1]);
    expect(new Set(payloads).size).toBe(3);

    // c's client takes no data: c's buffer (capacity 8) overflows with its cursor; a keeps going
    await b.return(undefined);
    const c = direct('c');
    const endC = c.next();
    for (let i = 0; i < 12; i++) log.append('j1', 'LOG');
    await new Promise((r) => setTimeout(r, 100));
    expect(frames.get('c')).toBeUndefined(); // nothing written while the client is backed up
    cReady = true;
    for (const w of waiting.splice(0)) w();
    const overflow = await endC;
    expect(overflow.done).toBe(false);
    expect((overflow.value as ExecutionResult).errors?.[0]?.extensions).toMatchObject({
      code: 'UNAVAILABLE',
    });
    // what c had taken before it fell behind: the 3 replayed events and the 8 its buffer held (capacity 8)
    expect(frames.get('c')!.map((f) => (f.payload.data as any).jobEvents.seq)).toEqual(
      Array.from({ length: 11 }, (_, i) => i + 1),
    );
    await waitUntil(() => (frames.get('a')?.length ?? 0) === 15);
    expect((await endB).done).toBe(true);
    await a.return(undefined);
    expect((await endA).done).toBe(true);
    await waitUntil(() => log.ended >= 1);
  });

  it('direct delivery: a frame refused by the bytes bound ends the subscription with its limit and where to resume; a refused terminal event still goes out', async () => {
    let full = false;
    const written: number[] = [];
    const refusal = new BufferBudgetExceeded('bufferedBytesTotal', 4096);
    const sink: DirectSink = {
      ready: () => true,
      whenReady: async () => undefined,
      next: (json) => {
        if (full) return refusal;
        written.push((JSON.parse(json) as any).data.jobEvents.seq);
        return null;
      },
    };
    const subscribe = () =>
      forwarder.subscribe({
        document: parse(QUERY),
        query: QUERY,
        variables: { id: 'j1' },
        identity: acme,
        context: { identity: acme },
        direct: sink,
      });
    const d = subscribe();
    const endD = d.next();
    log.append('j1', 'JOB_QUEUED');
    log.append('j1', 'LOG');
    await waitUntil(() => written.length === 2);
    full = true;
    log.append('j1', 'LOG');
    const cut = await endD;
    expect(cut.done).toBe(false);
    expect((cut.value as ExecutionResult).errors?.[0]?.extensions).toEqual({
      code: 'UNAVAILABLE',
      limit: 'bufferedBytesTotal',
      max: 4096,
      resumeAfter: '2', // the in-memory subgraph's cursor is the seq
    });
    expect((await d.next()).done).toBe(true);

    // the job's terminal event reaches a subscriber even when its frame is refused (graphql-ws sends it)
    const e = subscribe();
    const first = await e.next(); // the replay's first event is refused too, and not terminal: cut at once
    expect((first.value as ExecutionResult).errors?.[0]?.extensions?.limit).toBe('bufferedBytesTotal');
    await e.return(undefined);
    full = false;
    written.length = 0;
    const f = subscribe();
    const endF = f.next();
    await waitUntil(() => written.length === 3);
    full = true;
    log.append('j1', 'JOB_SUCCEEDED');
    const terminal = await endF;
    expect(terminal.done).toBe(false);
    expect((terminal.value as ExecutionResult).errors).toBeUndefined();
    expect(seqs([terminal.value as ExecutionResult])).toEqual([4]);
    await f.return(undefined);
    await waitUntil(() => log.ended >= 1);
  });

  it("direct delivery: the frames of a job's last events are flushed once every subscriber had them, before the subscriptions end", async () => {
    let written = 0;
    const flushes: number[] = [];
    let ended = 0;
    let writtenWhenFirstEnded = -1;
    let flushedWhenFirstEnded = -1;
    let asksWithinFanOut = false;
    const subscribers = 50;
    await pool.close();
    // only a burst's end asks for everything to be written (otherwise, what waited long enough)
    makeForwarder(50, 8, (burstEnded) => {
      if (burstEnded) flushes.push(written);
      else asksWithinFanOut ||= written % subscribers !== 0;
    });
    const sink: DirectSink = {
      ready: () => true,
      whenReady: async () => undefined,
      next: () => {
        written++;
        return null;
      },
    };
    const ends = Array.from({ length: subscribers }, () =>
      forwarder
        .subscribe({
          document: parse(QUERY),
          query: QUERY,
          variables: { id: 'j1' },
          identity: acme,
          context: { identity: acme },
          direct: sink,
        })
        .next()
        .then((r) => {
          if (ended++ === 0) {
            writtenWhenFirstEnded = written;
            flushedWhenFirstEnded = flushes.at(-1) ?? -1;
          }
          return r;
        }),
    );
    log.append('j1', 'JOB_QUEUED');
    await waitUntil(() => written === subscribers);
    for (const type of ['NODE_SUCCEEDED', 'JOB_SUCCEEDED']) log.append('j1', type);
    log.complete('j1');
    expect((await Promise.all(ends)).every((r) => r.done)).toBe(true);
    expect(writtenWhenFirstEnded).toBe(3 * subscribers);
    // everything written had been flushed before the first subscription ended
    expect(flushedWhenFirstEnded).toBe(3 * subscribers);
    // never in the middle of an event's fan-out
    expect(flushes.every((n) => n % subscribers === 0)).toBe(true);
    expect(asksWithinFanOut).toBe(false);
  });
});

async function waitUntil(fn: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
