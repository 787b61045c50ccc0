import { JOB_KEYS } from '../scheduler/keys.js';
import { jest } from '@jest/globals';
import { execute, parse } from 'graphql';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import type { JobsContext } from './context.js';
import { buildJobsSubgraphSchema } from './subgraph-schema.js';

const ENTITIES = parse(
  `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Job { id status nodes { id } } } }`,
);

/** `_entities` for Job, as a router asks when another subgraph's field needs our jobs. */
describe('Job entities', () => {
  let server: RedisHandle;
  let core: CoreHarness;
  let worker: TestWorker;

  beforeAll(async () => {
    server = await startRedis();
    core = await startCore(server.url);
    worker = await new TestWorker({
      url: server.url,
      tasks: [TEST_TASKS.emit],
      handlers: { 'test.emit': async (p) => ({ value: p.inputs.value as number }) },
    }).start();
  });
  afterAll(async () => {
    await worker?.stop();
    await core?.close();
    await server?.stop();
  });

  const submit = async (tenant: string) =>
    (
      await core.service.submitJob(tenant, {
        graph: {
          nodes: [
            { id: 'a', task: 'test.emit', inputs: { value: 1 } },
            { id: 'b', task: 'test.emit', inputs: { value: 2 } },
          ],
        },
      })
    ).job.id;

  it("answers a batch in one round trip (one script), in order, without another tenant's jobs", async () => {
    const mine = [await submit('acme'), await submit('acme'), await submit('acme')];
    const theirs = await submit('globex');
    // the worker and the scheduler share this connection: let every job finish first, so no completion reads a
    // node hash while the reads below are counted
    await waitFor(
      async () => {
        const views = await Promise.all(
          [...mine, theirs].map((id, i) => core.service.job(i < mine.length ? 'acme' : 'globex', id!)),
        );
        return views.every((v) => v?.job.status === 'SUCCEEDED');
      },
      { timeoutMs: 20_000, what: 'the jobs to succeed' },
    );
    const schema = await buildJobsSubgraphSchema(core.service);
    const ctx: JobsContext = {
      identity: { tenant: 'acme', keyId: 'k', scopes: ['jobs:read'], exp: 9e9 },
      service: core.service,
    };
    const reps = [mine[0], theirs, mine[1], 'no-such-job', mine[2]].map((id) => ({ __typename: 'Job', id }));
    // counted, not replaced: the real client still answers
    await core.service.jobsByIds('acme', [mine[0]!]); // the script is loaded: its first run may send its source
    const pipelines = jest.spyOn(core.redis, 'pipeline');
    const singles = jest.spyOn(core.redis, 'hgetall');
    const scripts = jest.spyOn(core.redis, 'evalsha');
    const result = await execute({ schema, document: ENTITIES, variableValues: { reps }, contextValue: ctx });
    expect(result.errors).toBeUndefined();
    const entities = result.data!._entities as Array<{ id: string; nodes: Array<{ id: string }> } | null>;
    expect(entities.map((e) => e?.id ?? null)).toEqual([mine[0], null, mine[1], null, mine[2]]);
    expect(entities[0]!.nodes.map((n) => n.id).sort()).toEqual(['a', 'b']);
    // five representations: one script reads every job and its nodes; no pipeline, no lookup per entity
    // (the scheduler shares the connection and runs its own scripts meanwhile: count the reads of these keys)
    const keys = reps.map((r) => JOB_KEYS.job(r.id!));
    const reads = scripts.mock.calls.filter(
      (c) => JSON.stringify(c.slice(2, 2 + keys.length)) === JSON.stringify(keys),
    );
    expect(reads).toHaveLength(1);
    expect(pipelines).not.toHaveBeenCalled();
    expect(singles).not.toHaveBeenCalled();
    pipelines.mockRestore();
    singles.mockRestore();
    scripts.mockRestore();
  });
});
