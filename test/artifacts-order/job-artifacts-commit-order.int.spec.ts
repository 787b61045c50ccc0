/**
 * `Job.artifactsPage(after:)` on a running job, as a live UI follows it (real redis-server, local S3, the jobs
 * subgraph's scheduler committing real attempts, the artifacts subgraph's schema reading them): a job's list is
 * in commit order, so whatever a job commits after a client read a cursor comes after that cursor, whenever the
 * worker staged it. Also: pages stay whole across deletes (the cursor's own artifact included), jobs indexed by
 * older writers (createdAt order) still list and page, and a cursor a client held from before still works.
 */
import { execute, parse } from 'graphql';
import { Redis } from 'ioredis';
import { REDIS_KEYS, type ArtifactRecord, type Identity, type JsonObject } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { redisPerSuite, startS3, type S3Handle } from '#libs/testing';
import { ArtifactRepository, ObjectStore, encodeArtifactRecord, type StorageLogger } from '#libs/storage';
import { startCore } from '../../apps/jobs-subgraph/test/harness.js';
import { TEST_TASKS } from '../../apps/jobs-subgraph/test/test-tasks.js';
import { TestWorker } from '../../apps/jobs-subgraph/test/test-worker.js';
import { reportFields } from '../../apps/jobs-subgraph/test/scenario.js';
import { metadataOnlySchema } from '../../apps/artifacts-subgraph/src/graphql/test/metadata-only-schema.js';

const TENANT = 'acme';
const acme: Identity = { tenant: TENANT, keyId: 'k', scopes: ['artifacts:read'], exp: 9e9 };
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = { 'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }) };
const quiet: StorageLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Page = {
  edges: Array<{ cursor: string; node: { id: string; name: string } }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
};
const PAGE = parse(`query($reps: [_Any!]!, $first: Int, $after: String) { _entities(representations: $reps) {
  ... on Job { artifactsPage(first: $first, after: $after) { edges { cursor node { id name } }
  pageInfo { hasNextPage endCursor } } } } }`);
const LIST = parse(
  `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Job { artifacts { id } } } }`,
);

describe('Job.artifactsPage follows a running job: what is committed later comes after the cursor', () => {
  const redis = redisPerSuite();
  let s3: S3Handle;
  let core: Awaited<ReturnType<typeof startCore>>;
  let manifest: TestWorker;
  let client: Redis;
  let repo: ArtifactRepository;
  let schema: Awaited<ReturnType<typeof metadataOnlySchema>>;

  beforeAll(async () => {
    s3 = await startS3();
  }, 60_000);
  afterAll(async () => {
    await s3?.stop();
  });
  beforeEach(async () => {
    core = await startCore(redis.url, { startConsumer: false });
    manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    client = new Redis(redis.url);
    const store = new ObjectStore(
      { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'commit-order' },
      quiet,
    );
    await store.start();
    repo = new ArtifactRepository(client, store, quiet);
    schema = await metadataOnlySchema(client);
  });
  afterEach(async () => {
    client?.disconnect();
    await manifest?.stop();
    await core?.close();
  });

  /** A job of independent one-attempt nodes (test.emit), none of them started. */
  async function jobOf(nodeIds: string[]) {
    const { job } = await core.service.submitJob(TENANT, {
      graph: { nodes: nodeIds.map((id) => ({ id, task: 'test.emit', inputs: { value: 1 } })) },
    });
    return job.id;
  }
  /** A worker stages an output of node `nodeId`'s attempt 1 (its record `staged`, createdAt = now). */
  const stage = (jobId: string, nodeId: string, name: string) =>
    repo.stage({
      tenant: TENANT,
      jobId,
      nodeId,
      attempt: 1,
      name,
      contentType: 'application/octet-stream',
      source: Buffer.from(`${nodeId}/${name}`),
    });
  /** The node's attempt 1 succeeds with `artifactIds`: the scheduler's commit step. */
  const commit = async (jobId: string, nodeId: string, artifactIds: string[]) =>
    expect(
      await core.scheduler.applyReport({
        ...reportFields(jobId, TENANT, { nodeId }),
        type: 'succeeded',
        outputs: { value: 1 },
        artifactIds,
      }),
    ).toBe('applied');
  const page = async (jobId: string, first: number, after?: string): Promise<Page> => {
    const r = await execute({
      schema,
      document: PAGE,
      variableValues: { reps: [{ __typename: 'Job', id: jobId }], first, after },
      contextValue: { identity: acme },
    });
    expect(r.errors).toBeUndefined();
    return (r.data!._entities as Array<{ artifactsPage: Page }>)[0]!.artifactsPage;
  };
  const ids = (p: Page) => p.edges.map((e) => e.node.id);
  /** Every page from `after` to the end, as a client follows `endCursor`: the ids seen and the last cursor. */
  const follow = async (jobId: string, first: number, after?: string) => {
    const seen: string[] = [];
    let cursor = after;
    for (;;) {
      const p = await page(jobId, first, cursor);
      seen.push(...ids(p));
      cursor = p.pageInfo.endCursor ?? cursor;
      if (!p.pageInfo.hasNextPage) return { seen, cursor };
    }
  };
  const list = async (jobId: string) => {
    const r = await execute({
      schema,
      document: LIST,
      variableValues: { reps: [{ __typename: 'Job', id: jobId }] },
      contextValue: { identity: acme },
    });
    expect(r.errors).toBeUndefined();
    return (r.data!._entities as Array<{ artifacts: Array<{ id: string }> }>)[0]!.artifacts.map((a) => a.id);
  };

  it("node A's output staged before node B's but committed after it comes after B's cursor", async () => {
    const jobId = await jobOf(['A', 'B']);
    const fromA = await stage(jobId, 'A', 'a.bin'); // a long task: staged early, committed late
    await sleep(5);
    const fromB = await stage(jobId, 'B', 'b.bin');
    expect(Date.parse(fromA.createdAt)).toBeLessThan(Date.parse(fromB.createdAt));
    await commit(jobId, 'B', [fromB.id]);

    // a UI following the running job reads what there is and keeps the cursor
    const first = await page(jobId, 10);
    expect(ids(first)).toEqual([fromB.id]);
    expect(first.pageInfo.hasNextPage).toBe(false);
    const held = first.pageInfo.endCursor!;

    await commit(jobId, 'A', [fromA.id]);
    const next = await page(jobId, 10, held);
    expect(ids(next)).toEqual([fromA.id]);
    expect(next.pageInfo.hasNextPage).toBe(false);
    // from the start: one order for both fields, the first committed first
    expect((await follow(jobId, 1)).seen).toEqual([fromB.id, fromA.id]);
    expect(await list(jobId)).toEqual([fromB.id, fromA.id]);
  });

  it('a client holding a cursor sees every later commit once, in commit order, whatever the staging order', async () => {
    const nodes = ['n0', 'n1', 'n2', 'n3', 'n4'];
    const jobId = await jobOf(nodes);
    // staged n4 first … n0 last; one node stages two outputs (one commit step: both after the cursor)
    const staged: Record<string, ArtifactRecord[]> = {};
    for (const n of [...nodes].reverse()) {
      staged[n] = [await stage(jobId, n, `${n}.bin`)];
      await sleep(2);
    }
    staged.n2!.push(await stage(jobId, 'n2', 'n2-extra.bin'));
    let cursor: string | undefined;
    const seen: string[] = [];
    for (const n of nodes) {
      await commit(
        jobId,
        n,
        staged[n]!.map((r) => r.id),
      );
      const r = await follow(jobId, 1, cursor);
      // exactly what this step committed, nothing again
      expect(new Set(r.seen)).toEqual(new Set(staged[n]!.map((a) => a.id)));
      seen.push(...r.seen);
      cursor = r.cursor;
    }
    expect((await follow(jobId, 2)).seen).toEqual(seen);
    expect(await list(jobId)).toEqual(seen);
  });

  it('pages stay whole across deletes, the cursor’s own artifact and unseen ones included', async () => {
    const nodes = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
    const jobId = await jobOf(nodes);
    const order: string[] = [];
    for (const n of nodes) {
      const a = await stage(jobId, n, `${n}.bin`);
      await commit(jobId, n, [a.id]);
      order.push(a.id);
    }
    const p1 = await page(jobId, 2);
    expect(ids(p1)).toEqual(order.slice(0, 2));
    // the artifact the cursor names, one already seen and one not yet seen are deleted
    for (const id of [order[1]!, order[0]!, order[3]!])
      expect(await repo.deleteVisible(id, TENANT)).toBe(true);
    const rest = await follow(jobId, 2, p1.pageInfo.endCursor!);
    expect(rest.seen).toEqual([order[2]!, order[4]!, order[5]!]);
    expect((await follow(jobId, 1)).seen).toEqual([order[2]!, order[4]!, order[5]!]);
    // every set member still has its index member
    expect(await client.zcard(REDIS_KEYS.jobArtifactOrder(jobId))).toBe(
      await client.scard(REDIS_KEYS.jobArtifacts(jobId)),
    );
  });

  /** A record as an older writer left it: committed, in the job's set, no index member, no commit fields. */
  const legacy = async (jobId: string, id: string, createdAt: string, name: string) => {
    const r: ArtifactRecord = {
      ...{ id, tenant: TENANT, state: 'committed', key: `${TENANT}/${jobId}/${id}`, name },
      ...{ contentType: 'image/png', size: 1, sha256: 'ab'.repeat(32), jobId, nodeId: 'n0', attempt: 1 },
      createdAt,
    };
    await client.hset(REDIS_KEYS.artifact(id), encodeArtifactRecord(r));
    await client.sadd(REDIS_KEYS.jobArtifacts(jobId), id);
  };
  const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();

  it('a job indexed by no one (committed by an older release) lists in createdAt order, and old cursors still page it', async () => {
    await legacy('old-job', 'l-3', at(3), 'c.png');
    await legacy('old-job', 'l-1', at(1), 'z.png');
    await legacy('old-job', 'l-2b', at(2), 'b.png');
    await legacy('old-job', 'l-2a', at(2), 'a.png');
    expect(await list('old-job')).toEqual(['l-1', 'l-2a', 'l-2b', 'l-3']);
    expect((await follow('old-job', 1)).seen).toEqual(['l-1', 'l-2a', 'l-2b', 'l-3']);
    // a cursor an older release answered (createdMs:name:id) names the same place
    const older = Buffer.from(`${Date.parse(at(2))}:a.png:l-2a`).toString('base64url');
    expect((await follow('old-job', 10, older)).seen).toEqual(['l-2b', 'l-3']);
  });

  it('a job running across the upgrade: what the older release committed comes first, then commit order', async () => {
    const jobId = await jobOf(['A', 'B']);
    // node A's output is staged; node B's, staged after it, was committed by the older release (no index
    // member, no commit fields); A's is committed now, by this one
    const fromA = await stage(jobId, 'A', 'a.bin');
    await sleep(5);
    await legacy(jobId, 'from-old-release', new Date().toISOString(), 'old.bin');
    const held = (await page(jobId, 10)).pageInfo.endCursor!;
    await commit(jobId, 'A', [fromA.id]);
    expect((await follow(jobId, 10, held)).seen).toEqual([fromA.id]);
    expect((await follow(jobId, 1)).seen).toEqual(['from-old-release', fromA.id]);
    expect(await list(jobId)).toEqual(['from-old-release', fromA.id]);
  });

  it('Artifact.committedAt says when its attempt committed it; null for one committed by an older release', async () => {
    const jobId = await jobOf(['A']);
    const fromA = await stage(jobId, 'A', 'a.bin');
    await sleep(5);
    const before = Date.now();
    await commit(jobId, 'A', [fromA.id]);
    await legacy(jobId, 'older', at(0), 'old.bin');
    const r = await execute({
      schema,
      document: parse(`query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Job {
        artifacts { id createdAt committedAt } } } }`),
      variableValues: { reps: [{ __typename: 'Job', id: jobId }] },
      contextValue: { identity: acme },
    });
    expect(r.errors).toBeUndefined();
    type A = { id: string; createdAt: string; committedAt: string | null };
    const [older, output] = (r.data!._entities as Array<{ artifacts: A[] }>)[0]!.artifacts;
    expect(older).toMatchObject({ id: 'older', committedAt: null });
    expect(output!.id).toBe(fromA.id);
    expect(Date.parse(output!.committedAt!)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(output!.committedAt!)).toBeGreaterThan(Date.parse(output!.createdAt));
  });

  it('refuses forged cursors with BAD_USER_INPUT before any read', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    const forged = [
      b64('c:abc:id'),
      b64('c:1e3:id'),
      b64(`c:${'9'.repeat(17)}:id`),
      b64('c:-1:id'),
      b64('c:5:'),
      b64(`c:5:${'i'.repeat(129)}`),
      b64('c:5:id:extra'),
      b64('c:5:../id'),
      b64('x:5:id'),
    ];
    await client.config('RESETSTAT');
    for (const after of forged) {
      const r = await execute({
        schema,
        document: PAGE,
        variableValues: { reps: [{ __typename: 'Job', id: 'j' }], first: 2, after },
        contextValue: { identity: acme },
      });
      expect(r.errors?.map((e) => (e.originalError as DomainError).code)).toEqual(['BAD_USER_INPUT']);
    }
    const stats = await client.info('commandstats');
    expect(stats).not.toMatch(/cmdstat_evalsha/);
  });
});
