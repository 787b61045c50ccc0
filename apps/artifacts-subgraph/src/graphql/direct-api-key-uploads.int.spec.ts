/**
 * SUBGRAPH_ACCEPT=api-key (a foreign router or client calling the artifacts subgraph directly): the per-key bucket
 * pays a token per createUpload field of an operation, aliased or not, charged once before anything runs, as
 * at our gateway (rateLimitUnits), so aliases cannot multiply the uploads a token buys.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import { ApiKeyStore, rateLimitKey, SubgraphAuthenticator, TokenBucketLimiter } from '#libs/auth';
import { ArtifactRepository, ObjectStore, STORAGE_KEYS } from '#libs/storage';
import { startRedis, startS3, type RedisHandle, type S3Handle } from '#libs/testing';
import { JobArtifactsReader } from '../reads/job-artifacts-reader.js';
import { ArtifactService } from '../uploads/artifact-service.js';
import { createGraphqlHandler, type GraphqlHandler } from './graphql-handler.js';
import { quietStorageLogger } from './test/metadata-only-schema.js';

const BURST = 10;
const aliasedUploads = (n: number) =>
  `mutation { ${Array.from(
    { length: n },
    (_, i) =>
      `u${i}: createUpload(input: { name: "f${i}.txt", contentType: "text/plain", size: 0 }) { artifactId }`,
  ).join(' ')} }`;

type Answer = {
  status: number;
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
};

let s3: S3Handle;
let redisServer: RedisHandle;
let redis: Redis;
let handler: GraphqlHandler;
let http: Server;
let url: string;

beforeAll(async () => {
  [s3, redisServer] = await Promise.all([startS3(), startRedis()]);
  redis = new Redis(redisServer.url);
  const store = new ObjectStore(
    {
      endpoint: s3.endpoint,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      bucket: 'direct-uploads',
      retry: { attempts: 2, baseDelayMs: 20 },
    },
    quietStorageLogger,
  );
  expect(await store.start()).toEqual({ ready: true });
  const service = new ArtifactService(
    new ArtifactRepository(redis, store, quietStorageLogger),
    store,
    {
      maxBytes: 1024,
      allowedContentTypes: ['text/plain'],
      uploadUrlTtlSeconds: 60,
      downloadUrlTtlSeconds: 60,
      tenantMaxStoredBytes: 0,
      jobArtifactsListMax: 50,
      jobArtifactsPageMax: 100,
      tenantMaxArtifacts: 0,
    },
    {
      uploadCompleted: () => undefined,
      jobArtifactsCapped: () => undefined,
      uploadRejected: () => undefined,
      quotaRefused: () => undefined,
    },
    quietStorageLogger,
    new JobArtifactsReader(redis),
  );
  const authenticator = new SubgraphAuthenticator({
    accept: ['api-key'],
    identitySecrets: 's'.repeat(40),
    // 1 a minute: no refill worth counting during a test
    apiKeys: {
      store: new ApiKeyStore(redis),
      limiter: new TokenBucketLimiter(redis, { perMinute: 1, burst: BURST }),
    },
  });
  handler = await createGraphqlHandler(service, { authenticator, production: true });
  const app = express();
  app.use('/graphql', ...handler.middleware);
  http = createServer(app);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
});

afterAll(async () => {
  await handler?.stop();
  await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
  redis?.disconnect();
  await Promise.all([s3?.stop(), redisServer?.stop()]);
});

/** A fresh key of its own tenant (its bucket full: BURST tokens). */
const newKey = async (tenant: string) => {
  const { key, record } = await new ApiKeyStore(redis).create({
    tenant,
    scopes: ['artifacts:read', 'artifacts:write'],
    name: 't',
  });
  return {
    key,
    tokens: async () => Math.floor(Number(await redis.hget(rateLimitKey(record.id), 'tokens'))),
    uploads: async () => Number((await redis.get(STORAGE_KEYS.tenantArtifacts(tenant))) ?? 0),
  };
};

const post = async (key: string, query: string): Promise<Answer> => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, ...((await res.json()) as object) };
};

describe('the artifacts subgraph, called directly with API keys', () => {
  it('charges aliased createUpload fields a token each before any runs; too few tokens: RATE_LIMITED, nothing written', async () => {
    const { key, tokens, uploads } = await newKey('alias-rate');
    const six = await post(key, aliasedUploads(6));
    expect(six.errors).toBeUndefined();
    expect(Object.keys(six.data!)).toHaveLength(6);
    expect(await uploads()).toBe(6);
    expect(await tokens()).toBe(BURST - 6);
    // 4 left: the request takes one, its other 5 uploads do not fit; none of its fields runs
    const limited = await post(key, aliasedUploads(6));
    expect(limited.status).toBe(429);
    expect(limited.data).toBeUndefined();
    expect(limited.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(await uploads()).toBe(6);
    expect(await tokens()).toBe(3);
  });

  it('refuses more createUpload fields than the burst as a whole (BAD_USER_INPUT): nothing written', async () => {
    const { key, tokens, uploads } = await newKey('alias-burst');
    const r = await post(key, aliasedUploads(20));
    expect(r.status).toBe(400);
    expect(r.data).toBeUndefined();
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', max: BURST, requested: 20 });
    expect(await uploads()).toBe(0);
    expect(await tokens()).toBe(BURST - 1); // the request's own token only
  });
});
