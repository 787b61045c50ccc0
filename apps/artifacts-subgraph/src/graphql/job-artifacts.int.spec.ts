import { jest } from '@jest/globals';
import { execute, parse } from 'graphql';
import { Redis } from 'ioredis';
import { DomainError } from '#libs/errors';
import { REDIS_KEYS, type ArtifactRecord, type Identity } from '#libs/contracts';
import { encodeArtifactRecord } from '#libs/storage';
import { startRedis, type RedisHandle } from '#libs/testing';
import { ARTIFACT_READ_SCRIPTS } from '../reads/job-artifacts-reader.js';
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
    expect(counts.smembers).toBe(22);
    expect(counts.hgetall).toBe(82);
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
