import { jest } from '@jest/globals';
import { execute, parse } from 'graphql';
import { Redis } from 'ioredis';
import { DomainError } from '#libs/errors';
import {
  REDIS_KEYS,
  jobArtifactOrderMember,
  type ArtifactListPosition,
  type ArtifactRecord,
  type Identity,
  artifactListPositionOf,
} from '#libs/contracts';
import { encodeArtifactRecord } from '#libs/storage';
import { startRedis, type RedisHandle } from '#libs/testing';
import {
  ARTIFACT_READ_SCRIPTS,
  JobArtifactsReader,
  type JobArtifactsPage,
} from '../reads/job-artifacts-reader.js';
import { metadataOnlySchema } from './test/metadata-only-schema.js';

const JOB_ARTIFACTS = parse(
  `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Job { id artifacts { id jobId nodeId name size createdAt } } } }`,
);

/** Commands the server ran since the last reset, by name (INFO commandstats). */
async function commandCounts(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** `Job.artifacts` for a batch of Job representations, as a router asks for a page of jobs. */
describe('Job.artifacts for a batch of jobs', () => {
  let server: RedisHandle;
  let redis: Redis;
  let schema: Awaited<ReturnType<typeof metadataOnlySchema>>;
  const acme: Identity = { tenant: 'acme', keyId: 'k', scopes: ['artifacts:read'], exp: 9e9 };

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    // entity resolution reads metadata only (metadataOnlySchema: its store is never called)
    schema = await metadataOnlySchema(redis);
    await ARTIFACT_READ_SCRIPTS.loadAll(redis);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  /** An artifact record of a job, indexed in the job's set as the scheduler's commit leaves it. */
  const artifact = async (
    id: string,
    jobId: string,
    tenant: string,
    state: ArtifactRecord['state'],
    createdAt: string,
    name = `${id}.png`,
  ) => {
    const r: ArtifactRecord = {
      id,
      tenant,
      state,
      key: `${tenant}/${jobId}/${id}`,
      name,
      contentType: 'image/png',
      size: id.length,
      sha256: 'ab'.repeat(32),
      jobId,
      nodeId: 'n0',
      attempt: 1,
      createdAt,
    };
    await redis.hset(REDIS_KEYS.artifact(id), encodeArtifactRecord(r));
    await redis.sadd(REDIS_KEYS.jobArtifacts(jobId), id);
  };

  const run = (identity: Identity, jobIds: string[]) =>
    execute({
      schema,
      document: JOB_ARTIFACTS,
      variableValues: { reps: jobIds.map((id) => ({ __typename: 'Job', id })) },
      contextValue: { identity },
    });

  it("answers every job of a page in one script call, oldest first, without other tenants' or uncommitted artifacts", async () => {
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const jobs = Array.from({ length: 20 }, (_, i) => `job-${i}`);
    for (const [i, jobId] of jobs.entries()) {
      await artifact(`${jobId}-b`, jobId, 'acme', 'committed', t(2));
      await artifact(`${jobId}-a`, jobId, 'acme', 'committed', t(1));
      await artifact(`${jobId}-c`, jobId, 'acme', 'committed', t(2), `a-first-by-name-${i}.png`);
      await artifact(`${jobId}-staged`, jobId, 'acme', 'staged', t(0));
    }
    // another tenant's artifact listed under an acme job id (a forged index entry) and its own job
    await artifact('foreign', 'job-3', 'globex', 'committed', t(0));
    await artifact('theirs', 'globex-job', 'globex', 'committed', t(0));

    await redis.config('RESETSTAT');
    const evals = jest.spyOn(redis, 'evalsha');
    const result = await run(acme, [...jobs, 'globex-job', 'no-such-job']);
    const counts = await commandCounts(redis);
    expect(result.errors).toBeUndefined();
    const answered = result.data!._entities as Array<{ id: string; artifacts: Array<{ id: string }> }>;
    expect(answered.map((j) => j.id)).toEqual([...jobs, 'globex-job', 'no-such-job']);
    for (const [i, jobId] of jobs.entries())
      expect(answered[i]!.artifacts.map((a) => a.id)).toEqual([`${jobId}-a`, `${jobId}-c`, `${jobId}-b`]);
    expect(answered[20]!.artifacts).toEqual([]);
    expect(answered[21]!.artifacts).toEqual([]);
    expect((answered[0]!.artifacts[0] as Record<string, unknown>).name).toBe('job-0-a.png');
    // 22 jobs, 82 artifact records: one round trip (one EVALSHA), the reads inside it
    expect(evals).toHaveBeenCalledTimes(1);
    expect(counts.evalsha).toBe(1);
    // jobs written with the set only (as here) are indexed by this first read: every record's sort fields once
    expect(counts.smembers).toBe(21);
    expect(counts.hmget).toBe(82);
    // only the 60 visible ones are read whole and leave Redis
    expect(counts.hgetall).toBe(60);
    // from then on a read seeks in each job's index: no member of the sets is visited again
    await redis.config('RESETSTAT');
    const again = await run(acme, [...jobs, 'globex-job', 'no-such-job']);
    const after = await commandCounts(redis);
    expect(again.data).toEqual(result.data);
    expect(after.smembers ?? 0).toBe(0);
    expect(after.hmget ?? 0).toBe(0);
    expect(after.hgetall).toBe(60);
    expect(after.zrange).toBe(22); // one seek per job
    evals.mockRestore();
  });

  it('answers another tenant as if the jobs had no artifacts, and FORBIDDEN without artifacts:read', async () => {
    const globex: Identity = { tenant: 'globex', keyId: 'g', scopes: ['artifacts:read'], exp: 9e9 };
    const seen = await run(globex, ['job-0', 'job-3', 'globex-job']);
    expect(seen.errors).toBeUndefined();
    expect(
      (seen.data!._entities as Array<{ artifacts: Array<{ id: string }> }>).map((j) =>
        j.artifacts.map((a) => a.id),
      ),
    ).toEqual([[], ['foreign'], ['theirs']]);

    const noScope = await run({ ...acme, scopes: ['jobs:read'] }, ['job-0', 'job-1']);
    // the DomainError each field failed with (the server's formatError turns it into extensions.code)
    expect(noScope.errors?.map((e) => (e.originalError as DomainError).code)).toEqual([
      'FORBIDDEN',
      'FORBIDDEN',
    ]);
  });
});

/**
 * A job's artifacts are bounded: `Job.artifacts` answers at most JOB_ARTIFACTS_LIST_MAX (the first committed), and
 * `artifactsPage(first, after)` pages through all of them, `first` at most JOB_ARTIFACTS_PAGE_MAX. The records here
 * are written as an older release committed them (no commitSeq), so they list by (createdAt, name, id); commit
 * order is test/artifacts-order/job-artifacts-commit-order.int.spec.ts's.
 */
describe('Job.artifacts and Job.artifactsPage bounds', () => {
  const LIST_MAX = 5;
  const PAGE_MAX = 10;
  let server: RedisHandle;
  let redis: Redis;
  let schema: Awaited<ReturnType<typeof metadataOnlySchema>>;
  const acme: Identity = { tenant: 'acme', keyId: 'k', scopes: ['artifacts:read'], exp: 9e9 };
  const globex: Identity = { tenant: 'globex', keyId: 'g', scopes: ['artifacts:read'], exp: 9e9 };
  const t = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    schema = await metadataOnlySchema(redis, { listMax: LIST_MAX, pageMax: PAGE_MAX });
    await ARTIFACT_READ_SCRIPTS.loadAll(redis);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const put = async (
    id: string,
    jobId: string,
    tenant: string,
    state: ArtifactRecord['state'],
    at: string,
    name: string,
  ) => {
    const r: ArtifactRecord = {
      ...{ id, tenant, state, key: `${tenant}/${jobId}/${id}`, name, contentType: 'image/png', size: 1 },
      ...{ sha256: 'ab'.repeat(32), jobId, nodeId: 'n0', attempt: 1, createdAt: at },
    };
    await redis.hset(REDIS_KEYS.artifact(id), encodeArtifactRecord(r));
    await redis.sadd(REDIS_KEYS.jobArtifacts(jobId), id);
  };

  const query = (identity: Identity, doc: string, variables: Record<string, unknown>) =>
    execute({ schema, document: parse(doc), variableValues: variables, contextValue: { identity } });
  const reps = (ids: string[]) => ids.map((id) => ({ __typename: 'Job', id }));
  type Page = {
    edges: Array<{ cursor: string; node: { id: string } }>;
    pageInfo: {
      hasNextPage: boolean;
      hasPreviousPage: boolean;
      startCursor: string | null;
      endCursor: string | null;
    };
  };
  const PAGE = `query($reps: [_Any!]!, $first: Int, $after: String) { _entities(representations: $reps) { ... on Job { id
    artifactsPage(first: $first, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } } }`;
  const page = async (identity: Identity, jobId: string, first?: number, after?: string) => {
    const r = await query(identity, PAGE, { reps: reps([jobId]), first, after });
    expect(r.errors).toBeUndefined();
    return (r.data!._entities as Array<{ artifactsPage: Page }>)[0]!.artifactsPage;
  };
  const codeOf = (e: unknown) => (e as { originalError?: DomainError }).originalError?.code;

  // 'big': 23 committed artifacts of acme; 7 share one millisecond and 3 of those one name too (the order's
  // ties are broken by name, then id); a staged one, and another tenant's record listed under it.
  const bigIds: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 16; i++) {
      const id = `big-${String(i).padStart(2, '0')}`;
      bigIds.push(id);
      await put(id, 'big', 'acme', 'committed', t(i), `out-${i}.png`);
    }
    const tied = ['tie-c', 'tie-a', 'tie-b'].map((id) => ({ id, name: 'same.png' }));
    const named = ['x.png', 'a.png', 'm.png', 'b.png'].map((name, i) => ({ id: `named-${i}`, name }));
    for (const { id, name } of [...tied, ...named]) await put(id, 'big', 'acme', 'committed', t(100), name);
    bigIds.push('named-1', 'named-3', 'named-2', 'tie-a', 'tie-b', 'tie-c', 'named-0');
    await put('big-staged', 'big', 'acme', 'staged', t(0), 'staged.png');
    await put('big-foreign', 'big', 'globex', 'committed', t(0), 'foreign.png');
  });

  it('Job.artifacts answers the JOB_ARTIFACTS_LIST_MAX oldest of a job with more', async () => {
    const r = await query(
      acme,
      `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Job { artifacts { id } } } }`,
      {
        reps: reps(['big']),
      },
    );
    expect(r.errors).toBeUndefined();
    const ids = (r.data!._entities as Array<{ artifacts: Array<{ id: string }> }>)[0]!.artifacts.map(
      (a) => a.id,
    );
    expect(ids).toEqual(bigIds.slice(0, LIST_MAX));
  });

  it('artifactsPage pages through every artifact once, in order, across ties', async () => {
    for (const first of [1, 3, 4, PAGE_MAX]) {
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      for (;;) {
        const p = await page(acme, 'big', first, after);
        pages++;
        expect(p.edges.length).toBeLessThanOrEqual(first);
        expect(p.pageInfo.hasPreviousPage).toBe(after !== undefined);
        expect(p.pageInfo.startCursor).toBe(p.edges[0]?.cursor ?? null);
        expect(p.pageInfo.endCursor).toBe(p.edges.at(-1)?.cursor ?? null);
        seen.push(...p.edges.map((e) => e.node.id));
        if (!p.pageInfo.hasNextPage) break;
        after = p.pageInfo.endCursor!;
      }
      expect(seen).toEqual(bigIds);
      expect(pages).toBe(Math.ceil(bigIds.length / first));
    }
    // no first: a page of 20 or JOB_ARTIFACTS_PAGE_MAX, whichever is lower
    expect((await page(acme, 'big')).edges).toHaveLength(PAGE_MAX);
    // first: 0 answers no edge and whether there are any
    const empty = await page(acme, 'big', 0);
    expect(empty.edges).toEqual([]);
    expect(empty.pageInfo.hasNextPage).toBe(true);
  });

  it('an artifact committed between two pages appears once, later ones at the end', async () => {
    const first = await page(acme, 'big', 5);
    await put('late', 'big', 'acme', 'committed', t(10_000), 'late.png');
    const seen = first.edges.map((e) => e.node.id);
    let after = first.pageInfo.endCursor!;
    for (;;) {
      const p = await page(acme, 'big', 5, after);
      seen.push(...p.edges.map((e) => e.node.id));
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor!;
    }
    expect(seen).toEqual([...bigIds, 'late']);
    await redis.srem(REDIS_KEYS.jobArtifacts('big'), 'late');
    await redis.del(REDIS_KEYS.artifact('late'));
  });

  it('a page of jobs is one script call, whatever the fields and their arguments', async () => {
    const jobs = Array.from({ length: 20 }, (_, i) => `page-job-${i}`);
    for (const jobId of jobs)
      for (let i = 0; i < 8; i++) await put(`${jobId}-${i}`, jobId, 'acme', 'committed', t(i), `o${i}.png`);
    await redis.config('RESETSTAT');
    const evals = jest.spyOn(redis, 'evalsha');
    const r = await query(
      acme,
      `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Job { id artifacts { id }
        p1: artifactsPage(first: 3) { edges { node { id } } pageInfo { hasNextPage } }
        p2: artifactsPage(first: 2, after: "${Buffer.from(`${Date.parse(t(1))}:o1.png:zz`).toString('base64url')}") { edges { node { id } } } } } }`,
      { reps: reps([...jobs, 'big']) },
    );
    const counts = await commandCounts(redis);
    expect(r.errors).toBeUndefined();
    type Answer = { artifacts: Array<{ id: string }>; p1: Page; p2: Page };
    const answered = r.data!._entities as Answer[];
    for (const [i, jobId] of jobs.entries()) {
      expect(answered[i]!.artifacts.map((a) => a.id)).toEqual([0, 1, 2, 3, 4].map((n) => `${jobId}-${n}`));
      expect(answered[i]!.p1.edges.map((e) => e.node.id)).toEqual([0, 1, 2].map((n) => `${jobId}-${n}`));
      expect(answered[i]!.p1.pageInfo.hasNextPage).toBe(true);
      expect(answered[i]!.p2.edges.map((e) => e.node.id)).toEqual([`${jobId}-2`, `${jobId}-3`]);
    }
    expect(evals).toHaveBeenCalledTimes(1);
    expect(counts.evalsha).toBe(1);
    // only the records of the pages leave Redis whole (5 + 3 + 2 per job, 20 + 1 jobs); 183 others are only sorted
    expect(counts.hgetall).toBe(21 * 10);
    evals.mockRestore();
  });

  it('refuses forged cursors and a first above JOB_ARTIFACTS_PAGE_MAX with BAD_USER_INPUT, before any Redis read', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    const forged = [
      'not a cursor!',
      b64('garbage'),
      b64('1e3:a.png:id'),
      b64(`${'9'.repeat(17)}:a.png:id`),
      b64(`${Number.MAX_SAFE_INTEGER}:a.png:id`), // past any date
      b64('-1:a.png:id'),
      b64('5:../etc/passwd:id'),
      b64(`5:${'n'.repeat(201)}:id`),
      b64('5:a.png:'),
      b64(`5:a.png:${'i'.repeat(129)}`),
      b64('5:a.png:id:extra'),
      b64('5::id'),
      '',
    ];
    await redis.config('RESETSTAT');
    for (const after of forged) {
      const r = await query(acme, PAGE, { reps: reps(['big']), first: 2, after });
      expect(r.errors?.map(codeOf)).toEqual(['BAD_USER_INPUT']);
    }
    for (const first of [PAGE_MAX + 1, -1]) {
      const r = await query(acme, PAGE, { reps: reps(['big']), first });
      expect(r.errors?.map(codeOf)).toEqual(['BAD_USER_INPUT']);
      expect(r.errors![0]!.originalError).toMatchObject({ extensions: { max: PAGE_MAX } });
    }
    const counts = await commandCounts(redis);
    expect(counts.evalsha ?? 0).toBe(0);
  });

  it("answers another tenant's job as empty, hides foreign records, and is FORBIDDEN without artifacts:read", async () => {
    const theirs = await page(globex, 'big', PAGE_MAX);
    expect(theirs.edges.map((e) => e.node.id)).toEqual(['big-foreign']);
    expect(theirs.pageInfo.hasNextPage).toBe(false);
    expect((await page(globex, 'page-job-0', PAGE_MAX)).edges).toEqual([]);
    // acme's cursor carries no tenant and reads nothing of acme for globex
    const acmeCursor = (await page(acme, 'big', 2)).pageInfo.endCursor!;
    expect((await page(globex, 'big', 2, acmeCursor)).edges).toEqual([]);
    const all = await page(acme, 'big', PAGE_MAX);
    expect(all.edges.map((e) => e.node.id)).not.toContain('big-foreign');
    expect(all.edges.map((e) => e.node.id)).not.toContain('big-staged');

    const noScope = await query({ ...acme, scopes: ['jobs:read'] }, PAGE, {
      reps: reps(['big', 'page-job-0']),
      first: 2,
    });
    expect(noScope.errors?.map(codeOf)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
  });
});

/**
 * A job at the planner's bound (PLANNER_MAX_NODES 200 × 100 outputs): a page read costs Redis O(log N + page)
 * commands per job, whatever the job holds (the index `jobArtifactOrder`), so a page of 20 such jobs cannot
 * stall Redis for the other tenants. Work is counted (INFO commandstats), not timed.
 */
describe('a job of 20000 artifacts', () => {
  const N = 20_000;
  const JOB = 'huge';
  let server: RedisHandle;
  let redis: Redis;
  let reader: JobArtifactsReader;
  const t = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
  const record = (id: string, tenant: string, state: ArtifactRecord['state'], at: string, name: string) =>
    ({
      ...{ id, tenant, state, key: `${tenant}/${JOB}/${id}`, name, contentType: 'image/png', size: 1 },
      ...{ sha256: 'ab'.repeat(32), jobId: JOB, nodeId: 'n0', attempt: 1, createdAt: at },
    }) satisfies ArtifactRecord;
  /** The job's visible artifacts, in the list's order (createdAt, name, id; byte order). */
  const expected: ArtifactRecord[] = [];
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const ids = (p: JobArtifactsPage) => p.records.map((r) => r.id);

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    reader = new JobArtifactsReader(redis);
    await ARTIFACT_READ_SCRIPTS.loadAll(redis);
    // written as a job committed before the index existed: the set only
    for (let from = 0; from < N; from += 2000) {
      const p = redis.pipeline();
      for (let i = from; i < from + 2000; i++) {
        // 4 per millisecond, names tied in pairs: the order's ties are broken by name, then id
        const r = record(
          `a-${String(N - i).padStart(5, '0')}`,
          'acme',
          'committed',
          t(i >> 2),
          `o-${i & 1}.png`,
        );
        expected.push(r);
        p.hset(REDIS_KEYS.artifact(r.id), encodeArtifactRecord(r)).sadd(REDIS_KEYS.jobArtifacts(JOB), r.id);
      }
      await p.exec();
    }
    // another tenant's record and an uncommitted one listed under the job: never answered to acme
    for (const r of [
      record('foreign', 'globex', 'committed', t(0), 'a.png'),
      record('staged', 'acme', 'staged', t(0), 'a.png'),
    ])
      await redis
        .hset(REDIS_KEYS.artifact(r.id), encodeArtifactRecord(r))
        .then(() => redis.sadd(REDIS_KEYS.jobArtifacts(JOB), r.id));
    expected.sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.name, b.name) || cmp(a.id, b.id));
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  /** Commands run inside scripts since RESETSTAT (the EVALSHA itself and the test's own INFO excepted). */
  const innerCommands = (counts: Record<string, number>) =>
    Object.entries(counts)
      .filter(([c]) => !['evalsha', 'info', 'config|resetstat'].includes(c))
      .reduce((sum, [, n]) => sum + n, 0);

  it('a job written before the index (set only) is indexed by its first read, once, and answers the oldest', async () => {
    const [first] = await reader.pages([{ jobId: JOB, limit: 50 }], 'acme');
    expect(ids(first!)).toEqual(expected.slice(0, 50).map((r) => r.id));
    expect(first!.hasMore).toBe(true);
    // every set member has its index member (the invisible ones too, outside every tenant's range)
    expect(await redis.zcard(REDIS_KEYS.jobArtifactOrder(JOB))).toBe(N + 2);
    expect(await redis.zscore(REDIS_KEYS.jobArtifactOrder(JOB), jobArtifactOrderMember(expected[0]!))).toBe(
      '0',
    );
  });

  it('a page of 20 such jobs costs O(page) Redis commands per job, not O(artifacts)', async () => {
    const after = artifactListPositionOf(expected[9_999]!);
    await redis.config('RESETSTAT');
    const pages = await reader.pages(
      Array.from({ length: 20 }, () => ({ jobId: JOB, limit: 50, after })),
      'acme',
    );
    const counts = await commandCounts(redis);
    for (const p of pages) {
      expect(ids(p)).toEqual(expected.slice(10_000, 10_050).map((r) => r.id));
      expect(p.hasMore).toBe(true);
    }
    expect(counts.evalsha).toBe(1);
    expect(counts.hgetall).toBe(20 * 50);
    // per job: the page's 50 records, one look past it, a few commands to find the place; never the 20002
    expect(innerCommands(counts)).toBeLessThanOrEqual(20 * (50 + 8));
    expect(counts.smembers ?? 0).toBe(0);
  });

  it('pages through all 20000 once each, in order, across cursors', async () => {
    const seen: string[] = [];
    let after: ArtifactListPosition | undefined;
    for (;;) {
      const [p] = await reader.pages([{ jobId: JOB, limit: 1000, after }], 'acme');
      seen.push(...ids(p!));
      if (!p!.hasMore) break;
      after = artifactListPositionOf(p!.records.at(-1)!);
    }
    expect(seen).toEqual(expected.map((r) => r.id));
    // globex sees its own record under the job, and only it
    const [theirs] = await reader.pages([{ jobId: JOB, limit: 10 }], 'globex');
    expect(ids(theirs!)).toEqual(['foreign']);
    expect(theirs!.hasMore).toBe(false);
  });

  it("a forged index member in acme's range naming another tenant's record is skipped, the page still full", async () => {
    // a member (and a set entry, so the index still looks whole) that claims acme, first in the order
    const forged = jobArtifactOrderMember({ tenant: 'acme', createdAt: t(-1), name: 'a.png', id: 'foreign' });
    await redis.zadd(REDIS_KEYS.jobArtifactOrder(JOB), 0, forged);
    await redis.sadd(REDIS_KEYS.jobArtifacts(JOB), 'forged-slot');
    const [p] = await reader.pages([{ jobId: JOB, limit: 3 }], 'acme');
    expect(ids(p!)).toEqual(expected.slice(0, 3).map((r) => r.id));
    await redis.zrem(REDIS_KEYS.jobArtifactOrder(JOB), forged);
    await redis.srem(REDIS_KEYS.jobArtifacts(JOB), 'forged-slot');
  });

  it('an index that no longer matches the set (an artifact committed or removed by an older writer) is rebuilt', async () => {
    const late = record('late', 'acme', 'committed', t(N), 'late.png');
    await redis.hset(REDIS_KEYS.artifact('late'), encodeArtifactRecord(late));
    await redis.sadd(REDIS_KEYS.jobArtifacts(JOB), 'late');
    const [p] = await reader.pages(
      [{ jobId: JOB, limit: 5, after: artifactListPositionOf(expected.at(-2)!) }],
      'acme',
    );
    expect(ids(p!)).toEqual([expected.at(-1)!.id, 'late']);
    await redis.srem(REDIS_KEYS.jobArtifacts(JOB), 'late');
    const [again] = await reader.pages(
      [{ jobId: JOB, limit: 5, after: artifactListPositionOf(expected.at(-2)!) }],
      'acme',
    );
    expect(ids(again!)).toEqual([expected.at(-1)!.id]);
    expect(await redis.zcard(REDIS_KEYS.jobArtifactOrder(JOB))).toBe(N + 2);
  });
});
