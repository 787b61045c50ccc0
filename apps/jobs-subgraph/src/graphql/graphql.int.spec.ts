import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { REDIS_KEYS, schemaHash } from '#libs/contracts';
import { waitFor } from '#libs/testing';
import { startGraphqlHarness, type GraphqlHarness } from '../../test/graphql-harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { collect, graphqlRequest, identityFor, wsClient } from '../../test/graphql-client.js';
import { diamond } from '../../test/scenario.js';

const SUBMIT = `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id status progress nodes { id task taskVersion status } } }`;
const VALIDATE = `query($input: SubmitJobInput!) { validateGraph(input: $input) { valid errors { code message nodeId path } } }`;
const EVENTS = `subscription($jobId: ID!, $after: String) {
  jobEvents(jobId: $jobId, after: $after) { cursor seq jobId nodeId type progress message at job { id status } }
}`;

type Ev = { jobEvents: { cursor: string; seq: number; type: string; job: { id: string; status: string } } };

describe('jobs subgraph GraphQL (HTTP + graphql-ws) over a real redis-server', () => {
  let harness: GraphqlHarness;
  let worker: TestWorker;
  let url: string;

  beforeAll(async () => {
    harness = await startGraphqlHarness({ websocket: true });
    ({ worker, url } = harness);
  });

  afterAll(() => harness?.stop());

  it('refuses a request without a valid signed identity (UNAUTHENTICATED) or scope (FORBIDDEN)', async () => {
    const none = await graphqlRequest(url, '{ templates { name } }', {}, null);
    expect(none.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const forged = await graphqlRequest(
      url,
      '{ templates { name } }',
      {},
      identityFor('acme', ['jobs:read'], 'x'.repeat(40)),
    );
    expect(forged.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const readOnly = await graphqlRequest(
      url,
      SUBMIT,
      { input: diamond() },
      identityFor('acme', ['jobs:read']),
    );
    expect(readOnly.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const notAdmin = await graphqlRequest(url, '{ workers { id } }');
    expect(notAdmin.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const admin = await graphqlRequest<{ workers: Array<{ id: string; tasks: string[]; ready: boolean }> }>(
      url,
      '{ workers { id hostname protocolVersion tasks ready lastHeartbeatAt devices { kind name } actors { id state restarts } } }',
      {},
      identityFor('ops', ['admin']),
    );
    expect(admin.data!.workers.map((w) => w.id)).toContain(worker.id);
  });

  it('answers whether each worker takes work (accepting), apart from its readiness; an older manifest falls back to ready', async () => {
    const redis = new Redis(harness.redisUrl);
    try {
      // an older worker publishes no `accepting`: its `ready` was the gate then
      const published = JSON.parse((await redis.get(REDIS_KEYS.worker(worker.id)))!) as object;
      const older = { ...published, id: 'older-worker', ready: false };
      delete (older as { accepting?: boolean }).accepting;
      await redis.set(REDIS_KEYS.worker(older.id), JSON.stringify(older), 'PX', 60_000);
      await redis.sadd(REDIS_KEYS.workers, older.id);
      const r = await graphqlRequest<{ workers: Array<{ id: string; ready: boolean; accepting: boolean }> }>(
        url,
        '{ workers { id ready accepting } }',
        {},
        identityFor('ops', ['admin']),
      );
      expect(r.errors).toBeUndefined();
      expect(r.data!.workers.find((w) => w.id === worker.id)).toMatchObject({ accepting: true });
      expect(r.data!.workers.find((w) => w.id === 'older-worker')).toEqual({
        id: 'older-worker',
        ready: false,
        accepting: false,
      });
    } finally {
      await redis.srem(REDIS_KEYS.workers, 'older-worker');
      await redis.del(REDIS_KEYS.worker('older-worker'));
      redis.disconnect();
    }
  });

  it('answers capabilities and templates from the registry at once', async () => {
    const r = await graphqlRequest<{
      capabilities: Array<{ name: string; versions: string[]; workers: number }>;
      templates: Array<{ name: string }>;
    }>(
      url,
      '{ capabilities { name versions workers inputSchema outputSchema resources } templates { name description paramsSchema } }',
    );
    expect(r.data!.capabilities.find((c) => c.name === 'test.add')).toMatchObject({
      versions: ['1.0.0'],
      workers: 1,
    });
    expect(r.data!.templates.map((t) => t.name).sort()).toEqual(['thumbnail', 'train-and-evaluate']);
  });

  const cases: Array<[string, unknown]> = [
    [
      'CYCLE',
      {
        graph: {
          nodes: [
            { id: 'a', task: 'test.emit', inputs: { value: 1 }, dependsOn: ['b'] },
            { id: 'b', task: 'test.emit', inputs: { value: 1 }, dependsOn: ['a'] },
          ],
        },
      },
    ],
    ['UNKNOWN_TASK', { graph: { nodes: [{ id: 'a', task: 'no.such' }] } }],
    [
      'VERSION_UNAVAILABLE',
      { graph: { nodes: [{ id: 'a', task: 'test.emit', version: '^2.0.0', inputs: { value: 1 } }] } },
    ],
    ['INVALID_INPUT', { graph: { nodes: [{ id: 'a', task: 'test.emit', inputs: { value: 'one' } }] } }],
    [
      'BAD_REFERENCE',
      {
        graph: {
          nodes: [
            { id: 'a', task: 'test.emit', inputs: { value: 1 } },
            { id: 'b', task: 'test.add', inputs: { a: { $ref: 'a.outputs.nope' }, b: 1 } },
          ],
        },
      },
    ],
    [
      'DUPLICATE_NODE',
      {
        graph: {
          nodes: [
            { id: 'a', task: 'test.emit', inputs: { value: 1 } },
            { id: 'a', task: 'test.emit', inputs: { value: 2 } },
          ],
        },
      },
    ],
    [
      'UNKNOWN_DEPENDENCY',
      { graph: { nodes: [{ id: 'a', task: 'test.emit', inputs: { value: 1 }, dependsOn: ['ghost'] }] } },
    ],
    ['UNKNOWN_TEMPLATE', { template: 'no-such-template', params: {} }],
    ['EMPTY_GRAPH', { graph: { nodes: [] } }],
    [
      'TOO_LARGE',
      {
        graph: {
          nodes: Array.from({ length: 201 }, (_, i) => ({
            id: `n${i}`,
            task: 'test.emit',
            inputs: { value: i },
          })),
        },
      },
    ],
  ];

  it.each(cases)(
    'submitJob refuses %s with INVALID_GRAPH and persists nothing; validateGraph reports it',
    async (code, input) => {
      const redis = new Redis(harness.redisUrl);
      const before = await redis.keys(REDIS_KEYS.job('*'));
      const r = await graphqlRequest(url, SUBMIT, { input });
      expect(r.errors?.[0]?.extensions?.code).toBe('INVALID_GRAPH');
      const errors = r.errors![0]!.extensions!.errors as Array<{ code: string }>;
      expect(errors.map((e) => e.code)).toContain(code);
      expect(await redis.keys(REDIS_KEYS.job('*'))).toEqual(before);
      const v = await graphqlRequest<{ validateGraph: { valid: boolean; errors: Array<{ code: string }> } }>(
        url,
        VALIDATE,
        { input },
      );
      expect(v.data!.validateGraph.valid).toBe(false);
      expect(v.data!.validateGraph.errors.map((e) => e.code)).toContain(code);
      expect(await redis.keys(REDIS_KEYS.job('*'))).toEqual(before);
      await redis.quit();
    },
  );

  it('an INVALID_INPUT error names the bad field', async () => {
    const v = await graphqlRequest<{
      validateGraph: { errors: Array<{ code: string; nodeId: string; path: string }> };
    }>(url, VALIDATE, { input: cases[3]![1] });
    expect(v.data!.validateGraph.errors[0]).toMatchObject({
      code: 'INVALID_INPUT',
      nodeId: 'a',
      path: 'inputs.value',
    });
  });

  it('submits, reads, pages and scopes jobs to the tenant', async () => {
    const a = await graphqlRequest<{ submitJob: { id: string; status: string; nodes: unknown[] } }>(
      url,
      SUBMIT,
      { input: diamond(1) },
    );
    expect(a.errors).toBeUndefined();
    expect(a.data!.submitJob).toMatchObject({ status: 'QUEUED' });
    expect(a.data!.submitJob.nodes).toHaveLength(4);
    const jobId = a.data!.submitJob.id;
    await waitFor(
      async () =>
        (
          await graphqlRequest<{ job: { status: string } }>(
            url,
            'query($id: ID!) { job(id: $id) { status } }',
            { id: jobId },
          )
        ).data?.job?.status === 'SUCCEEDED',
    );
    const done = await graphqlRequest<{
      job: { progress: number; nodes: Array<{ id: string; outputs: unknown; attempts: number }> };
    }>(
      url,
      'query($id: ID!) { job(id: $id) { progress nodes { id outputs attempts } createdAt startedAt finishedAt } }',
      { id: jobId },
    );
    expect(done.data!.job.progress).toBe(1);
    expect(done.data!.job.nodes.find((n) => n.id === 'D')!.outputs).toEqual({ total: 112 });
    // nodes(first:) answers the first that many of the same list (what a page of jobs asks, to be counted so)
    const sliced = await graphqlRequest<{ job: { all: { id: string }[]; two: { id: string }[]; none: [] } }>(
      url,
      'query($id: ID!) { job(id: $id) { all: nodes { id } two: nodes(first: 2) { id } none: nodes(first: 0) { id } } }',
      { id: jobId },
    );
    expect(sliced.errors).toBeUndefined();
    expect(sliced.data!.job.two).toEqual(sliced.data!.job.all.slice(0, 2));
    expect(sliced.data!.job.all).toHaveLength(4);
    expect(sliced.data!.job.none).toEqual([]);
    const negative = await graphqlRequest(
      url,
      'query($id: ID!) { job(id: $id) { nodes(first: -1) { id } } }',
      {
        id: jobId,
      },
    );
    expect(negative.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    const other = identityFor('globex');
    expect(
      (await graphqlRequest(url, 'query($id: ID!) { job(id: $id) { id } }', { id: jobId }, other)).data,
    ).toEqual({ job: null });
    const cancel = await graphqlRequest(
      url,
      'mutation($id: ID!) { cancelJob(id: $id) { id } }',
      { id: jobId },
      other,
    );
    expect(cancel.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const entities = await graphqlRequest<{ _entities: unknown[] }>(
      url,
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Job { id status } } }',
      { r: [{ __typename: 'Job', id: jobId }] },
    );
    expect(entities.data!._entities).toEqual([{ id: jobId, status: 'SUCCEEDED' }]);

    for (let i = 0; i < 2; i++) await graphqlRequest(url, SUBMIT, { input: diamond(10 + i) });
    const PAGE =
      'query($after: String) { jobs(first: 2, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }';
    const p1 = await graphqlRequest<{
      jobs: { edges: Array<{ node: { id: string } }>; pageInfo: { hasNextPage: boolean; endCursor: string } };
    }>(url, PAGE);
    expect(p1.data!.jobs.edges).toHaveLength(2);
    expect(p1.data!.jobs.pageInfo.hasNextPage).toBe(true);
    const p2 = await graphqlRequest<typeof p1.data>(url, PAGE, { after: p1.data!.jobs.pageInfo.endCursor });
    const all = [...p1.data!.jobs.edges, ...p2.data!.jobs!.edges].map((e) => e.node.id);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toContain(jobId);
    const filtered = await graphqlRequest<{ jobs: { edges: unknown[] } }>(
      url,
      '{ jobs(filter: { status: [FAILED] }) { edges { cursor } } }',
    );
    expect(filtered.data!.jobs.edges).toHaveLength(0);
    const tooMany = await graphqlRequest(url, '{ jobs(first: 101) { edges { cursor } } }');
    expect(tooMany.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', max: 100 });
  });

  // class-validator on the input classes: refused at the GraphQL edge with BAD_USER_INPUT, nothing written
  it.each([
    [
      'a long template filter',
      `{ jobs(filter: { template: "${'t'.repeat(129)}" }) { edges { cursor } } }`,
      /template: a template name has at most 128/,
    ],
    [
      'a priority past 1000',
      'mutation { submitJob(input: { template: "x", priority: 1001 }) { id } }',
      /priority: priority must not be greater than 1000/,
    ],
    [
      'an empty idempotency key',
      'mutation { submitJob(input: { template: "x", idempotencyKey: "" }) { id } }',
      /idempotencyKey: idempotencyKey must be longer than or equal to 1/,
    ],
  ])('refuses %s field by field', async (_case, query, message) => {
    const r = await graphqlRequest(url, query);
    expect(r.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT' });
    expect(r.errors?.[0]?.message).toMatch(message);
  });

  it('jobEvents over graphql-ws: resumes from a cursor with no gap or duplicate, completes after the terminal event', async () => {
    harness.holdAdds();
    const submitted = await graphqlRequest<{ submitJob: { id: string } }>(url, SUBMIT, { input: diamond(5) });
    const jobId = submitted.data!.submitJob.id;
    const first = wsClient(url);
    const head = collect<Ev>(first, EVENTS, { jobId }, (items) => items.length === 3);
    const h = await head.done;
    expect(h.errors).toBeUndefined();
    await first.dispose();
    harness.releaseAdds(); // the job finishes while nobody listens
    const second = wsClient(url);
    const rest = await collect<Ev>(second, EVENTS, { jobId, after: h.items.at(-1)!.jobEvents.cursor }).done;
    await second.dispose();
    expect(rest.errors).toBeUndefined();
    const seqs = [...h.items, ...rest.items].map((i) => i.jobEvents.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const last = rest.items.at(-1)!.jobEvents;
    expect(last.type).toBe('JOB_SUCCEEDED');
    expect(last.job).toEqual({ id: jobId, status: 'SUCCEEDED' });

    const intruder = wsClient(url, identityFor('globex'));
    const denied = await collect<Ev>(intruder, EVENTS, { jobId }).done;
    expect(JSON.stringify(denied.errors)).toMatch(/NOT_FOUND/);
    await intruder.dispose();
    const anonymous = wsClient(url, null);
    const refused = await collect<Ev>(anonymous, EVENTS, { jobId }).done;
    expect(refused.errors).toBeDefined();
    await anonymous.dispose();
  });

  it('jobEvents replays events read together with one read of their job, each event showing the job as of now', async () => {
    const submitted = await graphqlRequest<{ submitJob: { id: string } }>(url, SUBMIT, { input: diamond(5) });
    const jobId = submitted.data!.submitJob.id;
    const client = wsClient(url);
    try {
      await collect<Ev>(client, EVENTS, { jobId }).done; // until the terminal event: the job has finished
      const reads = jest.spyOn(harness.core.service, 'jobsByIds');
      const replay = await collect<Ev>(client, EVENTS, { jobId }).done;
      expect(replay.errors).toBeUndefined();
      expect(replay.items.length).toBeGreaterThan(10);
      for (const { jobEvents } of replay.items)
        expect(jobEvents.job).toEqual({ id: jobId, status: 'SUCCEEDED' });
      // one read of up to 256 events: the job read once, not once per event (the old resolver read it per event)
      expect(reads).toHaveBeenCalledTimes(1);
      reads.mockRestore();
    } finally {
      await client.dispose();
    }
  });

  it('jobFeed streams the tenant’s JOB_* events only', async () => {
    const feed = wsClient(url);
    // From the feed's head, not from whenever the subscription happens to be open: a fixed 200 ms wait for that
    // was tight on a loaded CI machine (the job's first events were missed and the test hung).
    const head = (await graphqlRequest<{ jobFeedHead: string }>(url, '{ jobFeedHead }')).data!.jobFeedHead;
    const got = collect<{ jobFeed: { type: string; jobId: string } }>(
      feed,
      'subscription($after: String) { jobFeed(after: $after) { type jobId seq } }',
      { after: head },
      (items) => items.some((i) => i.jobFeed.type === 'JOB_SUCCEEDED'),
    );
    await graphqlRequest(url, SUBMIT, { input: diamond(7) }, identityFor('globex'));
    const mine = await graphqlRequest<{ submitJob: { id: string } }>(url, SUBMIT, { input: diamond(8) });
    const { items } = await got.done;
    await feed.dispose();
    expect(items.every((i) => i.jobFeed.type.startsWith('JOB_'))).toBe(true);
    expect(new Set(items.map((i) => i.jobFeed.jobId))).toEqual(new Set([mine.data!.submitJob.id]));
  });

  it("jobFeed(after:) resumes right after an event's feedCursor; a bad cursor is BAD_USER_INPUT", async () => {
    type FeedItem = { jobFeed: { type: string; jobId: string; feedCursor: string } };
    const finished = (jobId: string) => (items: FeedItem[]) =>
      items.some((i) => i.jobFeed.jobId === jobId && i.jobFeed.type === 'JOB_SUCCEEDED');
    const feed = wsClient(url);
    try {
      const query = 'subscription($after: String) { jobFeed(after: $after) { type jobId feedCursor } }';
      let jobId = '';
      // from the feed's head (see above: no fixed wait for the subscription to be open)
      const head = (await graphqlRequest<{ jobFeedHead: string }>(url, '{ jobFeedHead }')).data!.jobFeedHead;
      const live = collect<FeedItem>(feed, query, { after: head }, (items) => finished(jobId)(items));
      jobId = (await graphqlRequest<{ submitJob: { id: string } }>(url, SUBMIT, { input: diamond(9) })).data!
        .submitJob.id;
      const mine = (await live.done).items.map((i) => i.jobFeed).filter((e) => e.jobId === jobId);
      expect(mine.map((e) => e.type)).toEqual(['JOB_QUEUED', 'JOB_STARTED', 'JOB_SUCCEEDED']);
      // from each event's cursor: exactly the events after it (the job is over: they come from the feed's store)
      for (const [i, event] of mine.slice(0, -1).entries()) {
        const again = await collect<FeedItem>(feed, query, { after: event.feedCursor }, finished(jobId)).done;
        expect(again.errors).toBeUndefined();
        expect(again.items.map((r) => r.jobFeed).filter((e) => e.jobId === jobId)).toEqual(mine.slice(i + 1));
      }
      const bad = await collect<FeedItem>(feed, query, { after: 'not-a-cursor' }).done;
      expect((bad.errors as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code).toBe(
        'BAD_USER_INPUT',
      );
    } finally {
      await feed.dispose();
    }
  });

  it('submits a named template: expanded, validated and recorded with the job', async () => {
    const resize = {
      ...TEST_TASKS.gpu, // on the gpu queue, which no test worker leases: the job stays queued
      name: 'image.resize',
      inputSchema: {
        type: 'object',
        properties: { image: { type: 'string' }, width: { type: 'integer' } },
        required: ['image', 'width'],
      },
      outputSchema: { type: 'object', properties: { image: { type: 'string' } }, required: ['image'] },
    };
    resize.schemaHash = schemaHash(resize.inputSchema, resize.outputSchema);
    const offering = new TestWorker({ url: harness.redisUrl, tasks: [resize], handlers: {} });
    await offering.publishManifest();
    try {
      const bad = await graphqlRequest(url, SUBMIT, {
        input: { template: 'thumbnail', params: { image: 'art-1', width: 'wide' } },
      });
      expect(bad.errors?.[0]?.extensions?.code).toBe('INVALID_GRAPH');
      const r = await graphqlRequest<{
        submitJob: { id: string; nodes: Array<{ id: string; task: string; status: string }> };
      }>(url, SUBMIT, {
        input: {
          template: 'thumbnail',
          params: { image: 'art-1', width: 64 },
          labels: { team: 'vision' },
          priority: 7,
        },
      });
      expect(r.errors).toBeUndefined();
      expect(r.data!.submitJob.nodes).toEqual([
        { id: 'resize', task: 'image.resize', taskVersion: '1.0.0', status: 'QUEUED' },
      ]);
      const listed = await graphqlRequest<{
        jobs: { edges: Array<{ node: { id: string; template: string; labels: unknown } }> };
      }>(url, '{ jobs(filter: { template: "thumbnail" }) { edges { node { id template labels } } } }');
      expect(listed.data!.jobs.edges.map((e) => e.node)).toEqual([
        { id: r.data!.submitJob.id, template: 'thumbnail', labels: { team: 'vision' } },
      ]);
      const cancelled = await graphqlRequest<{ cancelJob: { status: string } }>(
        url,
        'mutation($id: ID!) { cancelJob(id: $id) { status } }',
        {
          id: r.data!.submitJob.id,
        },
      );
      expect(cancelled.data!.cancelJob.status).toBe('CANCELLED');
      const retried = await graphqlRequest<{ retryJob: { status: string } }>(
        url,
        'mutation($id: ID!) { retryJob(id: $id) { status } }',
        {
          id: r.data!.submitJob.id,
        },
      );
      expect(retried.data!.retryJob.status).toBe('QUEUED');
      const conflict = await graphqlRequest(url, 'mutation($id: ID!) { retryJob(id: $id) { status } }', {
        id: r.data!.submitJob.id,
      });
      expect(conflict.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      await graphqlRequest(url, 'mutation($id: ID!) { cancelJob(id: $id) { status } }', {
        id: r.data!.submitJob.id,
      });
    } finally {
      await offering.stop();
    }
  });
});
