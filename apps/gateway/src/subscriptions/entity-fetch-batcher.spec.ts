import type { GraphQLDataSource } from '@apollo/gateway';
import { EntityFetchBatcher } from './entity-fetch-batcher.js';

type ProcessOptions = Parameters<GraphQLDataSource['process']>[0];

const identity = { tenant: 'acme', keyId: 'k1', scopes: ['jobs:read' as const, 'artifacts:read' as const] };
const ENTITIES =
  'query($representations:[_Any!]!){_entities(representations:$representations){...on Job{artifacts{name}}}}';

/**
 * A subgraph whose answer is whatever `value` holds when a request reaches it; each request stays in
 * flight until the test releases it, so the tests control what overlaps what.
 */
class ControlledSubgraph {
  value: string[] = [];
  readonly inFlight: Array<() => void> = [];
  requests = 0;
  readonly source: GraphQLDataSource = {
    process: () => {
      this.requests++;
      const artifacts = this.value.map((name) => ({ name }));
      return new Promise((resolve) =>
        this.inFlight.push(() => resolve({ data: { _entities: [{ artifacts }] } })),
      );
    },
  };

  releaseAll(): void {
    for (const release of this.inFlight.splice(0)) release();
  }
}

const fetchOptions = (jobId = 'j1') =>
  ({
    request: { query: ENTITIES, variables: { representations: [{ __typename: 'Job', id: jobId }] } },
    context: { identity },
  }) as unknown as ProcessOptions;

const names = (response: unknown) =>
  (response as { data: { _entities: [{ artifacts: { name: string }[] }] } }).data._entities[0].artifacts.map(
    (a) => a.name,
  );

const tick = () => new Promise((r) => setImmediate(r));

describe('EntityFetchBatcher', () => {
  let subgraph: ControlledSubgraph;
  let batcher: EntityFetchBatcher;
  const fetch = (arrival: number, jobId?: string) =>
    batcher.wrap({ artifacts: subgraph.source }, arrival).artifacts!.process(fetchOptions(jobId));

  beforeEach(() => {
    subgraph = new ControlledSubgraph();
    batcher = new EntityFetchBatcher();
  });

  it('sends one request for every subscriber copy of one event, also for copies resolved after it completed', async () => {
    const event = 'jobs/acme/j1/5';
    const arrivals = Array.from({ length: 20 }, () => batcher.arrived(event));
    const early = arrivals.slice(0, 10).map((a) => fetch(a));
    await tick();
    subgraph.releaseAll();
    const late = arrivals.slice(10).map((a) => fetch(a)); // slower subscribers of the same event
    const all = await Promise.all([...early, ...late]);
    expect(subgraph.requests).toBe(1);
    expect(all.map(names)).toEqual(Array(20).fill([]));
    expect(all[0]).not.toBe(all[1]); // each caller its own copy: executeQueryPlan merges into it
    expect([batcher.sent, batcher.shared]).toEqual([1, 19]);
  });

  it('never serves an event with a completed request started before the event arrived', async () => {
    const first = fetch(batcher.arrived('e1'));
    await tick();
    subgraph.releaseAll();
    expect(names(await first)).toEqual([]);
    // Committed before the next event is emitted, as the artifacts subgraph does it.
    subgraph.value = ['thumb.png'];
    const second = fetch(batcher.arrived('e2'));
    await tick();
    subgraph.releaseAll();
    expect(names(await second)).toEqual(['thumb.png']);
    expect(subgraph.requests).toBe(2);
  });

  it('makes an event that arrives while a request is in flight wait for the next one, shared by all that came meanwhile', async () => {
    const first = fetch(batcher.arrived('e1'));
    await tick();
    expect(subgraph.inFlight.length).toBe(1); // read value [] and still on its way back
    subgraph.value = ['thumb.png'];
    const arrivedMeanwhile = ['e2', 'e3', 'e3'].map((e) => batcher.arrived(e));
    const meanwhile = arrivedMeanwhile.map((a) => fetch(a));
    await tick();
    expect(subgraph.requests).toBe(1); // one request per key in flight; the next gathers
    subgraph.releaseAll();
    expect(names(await first)).toEqual([]);
    await tick();
    expect(subgraph.requests).toBe(2);
    subgraph.releaseAll();
    expect((await Promise.all(meanwhile)).map(names)).toEqual(Array(3).fill(['thumb.png']));
  });

  it('lets an event whose copy is resolved late reuse a request started after it arrived', async () => {
    const e1 = batcher.arrived('e1');
    const e2 = batcher.arrived('e2');
    const forE2 = fetch(e2);
    await tick();
    subgraph.releaseAll();
    await forE2;
    // A slow subscriber still resolving e1: the request for e2 started after e1 arrived, so it is newer.
    expect(names(await fetch(e1))).toEqual([]);
    expect(subgraph.requests).toBe(1);
  });

  it('keeps requests of different entities and events without a key apart', async () => {
    const a = fetch(batcher.arrived('e1'), 'j1');
    const b = fetch(batcher.arrived('e1'), 'j2');
    await tick();
    subgraph.releaseAll();
    await Promise.all([a, b]);
    expect(subgraph.requests).toBe(2);
    const unkeyed = fetch(batcher.arrived());
    await tick();
    subgraph.releaseAll();
    await unkeyed;
    expect(subgraph.requests).toBe(3); // a moment after both requests started: neither may serve it
  });

  it('does not hand a failed request to callers that come after it failed', async () => {
    let fail = true;
    const flaky: GraphQLDataSource = {
      process: async () => {
        if (fail) throw new Error('artifacts subgraph unreachable');
        return { data: { _entities: [{ artifacts: [] }] } };
      },
    };
    const arrival = batcher.arrived('e1');
    const call = () => batcher.wrap({ artifacts: flaky }, arrival).artifacts!.process(fetchOptions());
    await expect(call()).rejects.toThrow('unreachable');
    fail = false;
    await expect(call()).resolves.toEqual({ data: { _entities: [{ artifacts: [] }] } });
  });

  it('forgets arrivals after retainMs: a copy seen later counts as a new arrival', async () => {
    let now = 0;
    batcher = new EntityFetchBatcher({ retainMs: 5_000, now: () => now });
    const first = batcher.arrived('e1');
    expect(batcher.arrived('e1')).toBe(first);
    now = 7_000;
    batcher.arrived('other'); // sweeps
    expect(batcher.arrived('e1')).toBeGreaterThan(first);
  });
});
