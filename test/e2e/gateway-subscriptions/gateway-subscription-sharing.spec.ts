import { waitFor } from '#libs/testing';
import type { RecordedSubscription } from '../gateway-support/subgraph-recorder.js';
import {
  collect,
  gql,
  SLEEP_JOB,
  SLEEP_VARS,
  startGatewayStack,
  wsClient,
  type Collected,
  type GatewayStack,
} from '../gateway-support/gateway-stack.js';

const EVENTS = `subscription($id: ID!) { jobEvents(jobId: $id) { seq type job { id status artifacts { name } } } }`;
const PER_CONNECTION = 30;

const seqsOf = (c: Collected) => c.results.map((r) => r.data?.jobEvents?.seq);

/**
 * Identical subscriptions through the gateway share one upstream subscription (against the real subgraphs,
 * a gpu-worker running test tasks): a late joiner still gets the job's events from seq 1, one subscriber
 * leaving ends only its own stream, a revoked key loses its subscriptions while a sharer with another key
 * keeps its own, errors reach every sharer, and the subscription limits still count every subscriber. The
 * jobs subgraph always serves the shared upstream to a subscriber still there: when the one it runs under
 * leaves (completes, or its key is revoked), the rest of the job comes under another one's key.
 */
describe('gateway subscription sharing', () => {
  let stack: GatewayStack;
  let key: string;

  beforeAll(async () => {
    stack = await startGatewayStack({
      worker: true,
      recordJobsSubgraph: true,
      gatewayEnv: { RATE_LIMIT_BURST: '1000', MAX_SUBSCRIPTIONS_PER_CONNECTION: String(PER_CONNECTION) },
    });
    key = (await stack.createKey('acme', ['jobs:read', 'jobs:write', 'artifacts:read'])).key;
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const submitSleep = async (ms: number): Promise<string> => {
    const r = await gql(stack.url, key, SLEEP_JOB, SLEEP_VARS(ms));
    if (!r.body.data) throw new Error(JSON.stringify(r.body.errors));
    return r.body.data.submitJob.id;
  };

  /** Live events the jobs subgraph handed to `jobEvents` subscribers so far (one per upstream subscription). */
  const upstreamDeliveries = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${stack.env.JOBS_SUBGRAPH_PORT}/metrics`)).text();
    const m = /switchyard_event_delivery_lag_seconds_count\{[^}]*stream="job"[^}]*\} (\d+)/.exec(text);
    return m ? Number(m[1]) : 0;
  };

  /** The gateway's jobEvents subscriptions to the job, as the jobs subgraph received them, in order. */
  const upstreamsOf = (jobId: string): RecordedSubscription[] =>
    stack.jobsRecorder!.subscriptions.filter(
      (s) => s.payload.query.includes('jobEvents') && s.payload.variables?.id === jobId,
    );
  const delivered = (s: RecordedSubscription, type: string) =>
    s.results.some((r) => r.data?.jobEvents?.type === type);

  /**
   * The upstream was opened under `firstKeyId`, which left before the job ended; the rest of the job was served
   * under `keptKeyId`, resumed after the last event the first one had delivered (not replayed from seq 1).
   */
  const expectRehomed = (jobId: string, firstKeyId: string, keptKeyId: string) => {
    const [first, ...later] = upstreamsOf(jobId);
    expect(first!.keyId).toBe(firstKeyId);
    expect(first!.ended).toBe(true);
    expect(delivered(first!, 'JOB_SUCCEEDED')).toBe(false);
    expect(later.map((s) => s.keyId)).toEqual([keptKeyId]);
    expect(later[0]!.payload.variables?._syAfter).toEqual(expect.any(String));
    expect(delivered(later[0]!, 'JOB_SUCCEEDED')).toBe(true);
  };

  it('shares one upstream; a late joiner gets every event from seq 1; one leaving does not end the others', async () => {
    const before = await upstreamDeliveries();
    const jobId = await submitSleep(3_000);
    const clients = [wsClient(stack.wsUrl, key), wsClient(stack.wsUrl, key)];
    const early = Array.from({ length: 20 }, (_, i) => collect(clients[i % 2]!, EVENTS, { id: jobId }));
    await waitFor(
      () => early.every((s) => s.results.some((r) => r.data?.jobEvents.type === 'NODE_STARTED')),
      {
        timeoutMs: 30_000,
      },
    );
    const leaver = early.pop()!;
    leaver.dispose();
    const late = collect(clients[0]!, EVENTS, { id: jobId });
    expect(await late.done).toBe('complete');
    const outcomes = await Promise.all(early.map((s) => s.done));
    expect(outcomes.every((o) => o === 'complete')).toBe(true);

    const expected = seqsOf(late);
    expect(expected).toEqual(expected.map((_: unknown, i: number) => i + 1)); // from 1, contiguous
    expect(late.results.at(-1)!.data.jobEvents).toMatchObject({
      type: 'JOB_SUCCEEDED',
      job: { id: jobId, status: 'SUCCEEDED', artifacts: [] },
    });
    for (const s of early) expect(seqsOf(s)).toEqual(expected);
    // the leaver got a prefix and nothing after it left
    expect(seqsOf(leaver)).toEqual(expected.slice(0, leaver.results.length));
    expect(leaver.results.length).toBeLessThan(expected.length);
    // 21 subscribers, one upstream subscription: the subgraph delivered each live event once, not 21 times
    expect((await upstreamDeliveries()) - before).toBeLessThanOrEqual(expected.length);
    for (const c of clients) await c.dispose();
  }, 120_000);

  it('a revoked key loses its subscriptions; a sharer with another key of the same permissions keeps its own', async () => {
    const revokedKey = await stack.createKey(
      'acme',
      ['jobs:read', 'jobs:write', 'artifacts:read'],
      'revoked',
    );
    const keptKey = await stack.createKey('acme', ['jobs:read', 'jobs:write', 'artifacts:read'], 'kept');
    const jobId = await submitSleep(12_000);
    // The key to be revoked subscribes first: the shared upstream is opened on its behalf.
    const revokedClient = wsClient(stack.wsUrl, revokedKey.key);
    const doomed = collect(revokedClient, EVENTS, { id: jobId });
    await waitFor(() => doomed.results.length > 0, { timeoutMs: 20_000 });
    const keptClient = wsClient(stack.wsUrl, keptKey.key);
    const kept = collect(keptClient, EVENTS, { id: jobId });
    await waitFor(() => kept.results.length > 0, { timeoutMs: 20_000 });

    await stack.revokeKey(revokedKey.id);
    expect(await doomed.done).toBe('error');
    expect(revokedClient.closes).toContain(4403);
    expect(kept.results.some((r) => r.data?.jobEvents.type === 'JOB_SUCCEEDED')).toBe(false); // still running

    expect(await kept.done).toBe('complete');
    const seqs = seqsOf(kept);
    expect(seqs).toEqual(seqs.map((_: unknown, i: number) => i + 1));
    expect(kept.results.at(-1)!.data.jobEvents.type).toBe('JOB_SUCCEEDED');
    // the subgraph stopped serving the revoked key: the rest of the job went to the kept key
    expectRehomed(jobId, revokedKey.id, keptKey.id);
    await Promise.all([revokedClient.dispose(), keptClient.dispose()]);
  }, 120_000);

  it('the subscriber the upstream runs under completing hands it to one still there, every event once', async () => {
    const scopes = ['jobs:read', 'jobs:write', 'artifacts:read'] as const;
    const [firstKey, keptKey] = [
      await stack.createKey('acme', [...scopes]),
      await stack.createKey('acme', [...scopes]),
    ];
    const jobId = await submitSleep(6_000);
    const firstClient = wsClient(stack.wsUrl, firstKey.key);
    const leaving = collect(firstClient, EVENTS, { id: jobId });
    await waitFor(() => leaving.results.length > 0, { timeoutMs: 20_000 });
    const keptClient = wsClient(stack.wsUrl, keptKey.key);
    const kept = collect(keptClient, EVENTS, { id: jobId });
    await waitFor(() => kept.results.length > 0, { timeoutMs: 20_000 });
    leaving.dispose();

    expect(await kept.done).toBe('complete');
    const seqs = seqsOf(kept);
    expect(seqs).toEqual(seqs.map((_: unknown, i: number) => i + 1));
    expect(kept.results.at(-1)!.data.jobEvents.type).toBe('JOB_SUCCEEDED');
    expectRehomed(jobId, firstKey.id, keptKey.id);
    await Promise.all([firstClient.dispose(), keptClient.dispose()]);
  }, 120_000);

  it('a shared jobFeed handed to a subscriber still there resumes from the feed cursor: every event once', async () => {
    const FEED = 'subscription { jobFeed { type jobId } }';
    const scopes = ['jobs:read', 'jobs:write', 'artifacts:read'] as const;
    const [firstKey, keptKey] = [
      await stack.createKey('acme', [...scopes]),
      await stack.createKey('acme', [...scopes]),
    ];
    // the subscriptions, not the jobFeedHead queries the gateway reads each live one's start from
    const feedUpstreams = () =>
      stack.jobsRecorder!.subscriptions.filter((s) => s.payload.query.includes('jobFeed('));
    const headReads = () =>
      stack.jobsRecorder!.subscriptions.filter((s) => s.payload.query.includes('jobFeedHead'));
    const before = feedUpstreams().length;
    const headsBefore = headReads().length;
    const eventsOf = (c: Collected, jobs: string[]) =>
      c.results
        .map((r) => r.data?.jobFeed)
        .filter((e) => jobs.includes(e?.jobId))
        .map((e) => `${e.jobId}:${e.type}`);
    /** A job whose events `c` sees (the feed starts "now": retried until the subscription is in place). */
    const seenBy = async (c: Collected): Promise<string> => {
      let jobId = '';
      await waitFor(
        async () => {
          jobId = await submitSleep(3_000);
          await waitFor(() => eventsOf(c, [jobId]).length > 0, { timeoutMs: 2_000 }).catch(() => undefined);
          return eventsOf(c, [jobId]).length > 0;
        },
        { timeoutMs: 30_000, what: 'a feed subscriber to see a job' },
      );
      return jobId;
    };
    const firstClient = wsClient(stack.wsUrl, firstKey.key);
    const leaving = collect(firstClient, FEED);
    await seenBy(leaving);
    // joins the upstream opened under the first key
    const keptClient = wsClient(stack.wsUrl, keptKey.key);
    const kept = collect(keptClient, FEED);
    const a = await seenBy(kept);
    expect(
      feedUpstreams()
        .slice(before)
        .map((s) => s.keyId),
    ).toEqual([firstKey.id]);
    leaving.dispose();
    const b = await submitSleep(200); // its JOB_QUEUED may come while the upstream moves
    const all = (jobId: string) => ['JOB_QUEUED', 'JOB_STARTED', 'JOB_SUCCEEDED'].map((t) => `${jobId}:${t}`);
    await waitFor(() => eventsOf(kept, [a, b]).length >= 6, {
      timeoutMs: 60_000,
      what: 'both jobs to finish on the kept feed',
      logs: () => JSON.stringify(eventsOf(kept, [a, b])),
    });
    const got = eventsOf(kept, [a, b]);
    expect(got.filter((e) => e.startsWith(a))).toEqual(all(a));
    expect(got.filter((e) => e.startsWith(b))).toEqual(all(b));
    expect(got).toHaveLength(new Set(got).size);
    // the jobs subgraph served the rest under the kept key, from right after the last event that had arrived
    const [first, ...later] = feedUpstreams().slice(before);
    expect(first!.keyId).toBe(firstKey.id);
    expect(first!.ended).toBe(true);
    expect(later.map((s) => s.keyId)).toEqual([keptKey.id]);
    expect(later[0]!.payload.variables?._syAfter).toEqual(expect.any(String));
    // the shared feed was started right after the head read once for it, under the first key
    const heads = headReads().slice(headsBefore);
    expect(heads.map((h) => h.keyId)).toEqual([firstKey.id]);
    expect(first!.payload.variables?._syAfter).toBe(heads[0]!.results[0]!.data.jobFeedHead);
    kept.dispose();
    await Promise.all([firstClient.dispose(), keptClient.dispose()]);
  }, 120_000);

  it('an upstream error reaches every sharer', async () => {
    const jobId = await submitSleep(200);
    const other = (await stack.createKey('globex', ['jobs:read'])).key;
    const client = wsClient(stack.wsUrl, other);
    const subs = Array.from({ length: 5 }, () => collect(client, EVENTS, { id: jobId }));
    await Promise.all(subs.map((s) => s.done));
    for (const s of subs) {
      // as a subscription's own error result (then it completes), as without sharing
      expect(s.results.flatMap((r) => r.errors ?? []).map((e: any) => e.extensions.code)).toEqual([
        'NOT_FOUND',
      ]);
      expect(s.results.some((r) => r.data?.jobEvents)).toBe(false);
    }
    await client.dispose();
  }, 60_000);

  it('the per-connection limit counts every subscriber, shared or not', async () => {
    const jobId = await submitSleep(5_000);
    const client = wsClient(stack.wsUrl, key);
    const subs = Array.from({ length: PER_CONNECTION }, () => collect(client, EVENTS, { id: jobId }));
    await waitFor(() => subs.every((s) => s.results.length > 0), { timeoutMs: 30_000 });
    const refused = collect(client, EVENTS, { id: jobId });
    expect(await refused.done).toBe('error');
    expect((refused.error as any[])?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    subs[0]!.dispose(); // gives its slot back: the next one is admitted and replayed from seq 1
    const next = collect(client, EVENTS, { id: jobId });
    expect(await next.done).toBe('complete');
    expect(seqsOf(next)[0]).toBe(1);
    await client.dispose();
  }, 90_000);
});
