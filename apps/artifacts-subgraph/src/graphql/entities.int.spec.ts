import { jest } from '@jest/globals';
import { execute, parse } from 'graphql';
import { Redis } from 'ioredis';
import { REDIS_KEYS, type ArtifactRecord, type Identity } from '#libs/contracts';
import { encodeArtifactRecord } from '#libs/storage';
import { startRedis, type RedisHandle } from '#libs/testing';
import { metadataOnlySchema } from './test/metadata-only-schema.js';

const ENTITIES = parse(
  `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Artifact { id name size } } }`,
);

/** `_entities` for Artifact, as a router asks when another subgraph returns artifact references. */
describe('Artifact entities', () => {
  let server: RedisHandle;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const record = async (id: string, tenant: string, state: ArtifactRecord['state']) => {
    const r: ArtifactRecord = {
      id,
      tenant,
      state,
      key: `${tenant}/x/${id}`,
      name: `${id}.bin`,
      contentType: 'application/octet-stream',
      size: id.length,
      sha256: '',
      createdAt: new Date().toISOString(),
    };
    await redis.hset(REDIS_KEYS.artifact(id), encodeArtifactRecord(r));
  };

  it("answers a batch with one pipelined read, in order, without other tenants' or uncommitted artifacts", async () => {
    await Promise.all([
      record('a1', 'acme', 'committed'),
      record('a2', 'acme', 'committed'),
      record('g1', 'globex', 'committed'),
      record('p1', 'acme', 'pending'),
    ]);
    // entity resolution reads metadata only (metadataOnlySchema: its store is never called)
    const schema = await metadataOnlySchema(redis);
    const identity: Identity = { tenant: 'acme', keyId: 'k', scopes: ['artifacts:read'], exp: 9e9 };
    const reps = ['a1', 'g1', 'p1', 'missing', 'a2'].map((id) => ({ __typename: 'Artifact', id }));
    const pipelines = jest.spyOn(redis, 'pipeline');
    const singles = jest.spyOn(redis, 'hgetall');
    const result = await execute({
      schema,
      document: ENTITIES,
      variableValues: { reps },
      contextValue: { identity },
    });
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      { id: 'a1', name: 'a1.bin', size: 2 },
      null,
      null,
      null,
      { id: 'a2', name: 'a2.bin', size: 2 },
    ]);
    expect(pipelines).toHaveBeenCalledTimes(1);
    expect(singles).not.toHaveBeenCalled();
    pipelines.mockRestore();
    singles.mockRestore();
  });

  it("answers no entity without artifacts:read, as Query.artifact: neither an Artifact nor a Job's artifacts", async () => {
    await record('s1', 'acme', 'committed');
    const schema = await metadataOnlySchema(redis);
    const identity: Identity = { tenant: 'acme', keyId: 'k', scopes: ['jobs:read'], exp: 9e9 };
    const pipelines = jest.spyOn(redis, 'pipeline');
    const result = await execute({
      schema,
      document: parse(
        `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Artifact { id name } ... on Job { id artifacts { id } } } }`,
      ),
      variableValues: {
        reps: [
          { __typename: 'Artifact', id: 's1' },
          { __typename: 'Job', id: 'j1' },
        ],
      },
      contextValue: { identity },
    });
    // the Job stub holds its key only; its artifacts, like the Artifact, are refused before anything is read
    expect(result.data?._entities).toEqual([null, null]);
    expect(result.errors?.map((e) => (e.originalError as { code?: string } | undefined)?.code)).toEqual([
      'FORBIDDEN',
      'FORBIDDEN',
    ]);
    expect(pipelines).not.toHaveBeenCalled();
    pipelines.mockRestore();
  });
});
