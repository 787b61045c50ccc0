/**
 * Replays do not hold the jobs subgraph for everyone else (LoopSlice in the event followers), against a real
 * redis-server: many subscriptions replaying a job's events with a selection that resolves the whole job per event
 * (the red team's session-22 probe: 90 of them held another tenant's query 11–30 s) still let another tenant's query
 * through within the first slices of the replays, not after them.
 *
 * Fails on the code before the slices: the followers handed out their buffered events as one run of microtasks per
 * replay, so the other tenant's request was read, and each of its Redis answers handled, only between whole replays.
 */
import type { Client } from 'graphql-ws';
import { startGraphqlHarness, type GraphqlHarness } from '../../test/graphql-harness.js';
import { collect, graphqlRequest, identityFor, wsClient } from '../../test/graphql-client.js';

const NODES = 100;
const REPLAYS = 8;
/** Every event resolves the whole job: 100 nodes of 12 fields. */
const HEAVY_EVENTS = `subscription($j: ID!) { jobEvents(jobId: $j) { seq type job { id labels nodes(first: 100) {
  id task taskVersion status progress message attempts outputs error { code message retryable } workerId startedAt
  finishedAt } } } }`;

describe("the jobs subgraph's event replays", () => {
  let harness: GraphqlHarness;
  const clients: Client[] = [];

  beforeAll(async () => {
    harness = await startGraphqlHarness({
      websocket: true,
      core: { quotas: { maxActiveJobs: 100, maxQueuedNodes: 10_000 } },
    });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await harness?.stop();
  });

  it("let another tenant's query through while they run, not after them", async () => {
    harness.holdAdds();
    const nodes = Array.from({ length: NODES }, (_, i) => ({
      id: `n${i}`,
      task: 'test.add',
      inputs: { a: i, b: 1 },
    }));
    const { job } = await harness.core.service.submitJob('replayer', { graph: { nodes } });
    // JOB_QUEUED and a NODE_QUEUED per node: what each replay delivers at least
    const events = NODES + 1;

    const replays = Array.from({ length: REPLAYS }, () => {
      const client = wsClient(harness.url, identityFor('replayer'));
      clients.push(client);
      return collect<unknown>(client, HEAVY_EVENTS, { j: job.id }, (items) => items.length >= events);
    });
    const delivered = () => replays.reduce((n, r) => n + r.items.length, 0);
    // once the replays are under way, the other tenant asks
    while (delivered() === 0) await new Promise((r) => setTimeout(r, 1));
    const answer = await graphqlRequest(
      harness.url,
      '{ jobs(first: 1) { edges { node { id } } } }',
      {},
      identityFor('other'),
    );
    const deliveredWhenAnswered = delivered();
    expect(answer.errors).toBeUndefined();

    await Promise.all(replays.map((r) => r.done));
    // each replay whole (the worker's actors may have started a few held nodes meanwhile: a NODE_STARTED more)
    for (const r of replays) expect(r.items.length).toBeGreaterThanOrEqual(events);
    // answered within the replays' first slices (a few events each), not after most of them
    expect(deliveredWhenAnswered).toBeLessThan((REPLAYS * events) / 4);
    harness.releaseAdds();
  }, 120_000);
});
