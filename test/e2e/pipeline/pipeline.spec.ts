import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import WebSocket from 'ws';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import { ApiKeyStore } from '#libs/auth';
import { ALL_SCOPES } from '#libs/contracts';
import {
  freePort,
  REPO_ROOT,
  startApp,
  startRedis,
  startS3,
  tempDir,
  type AppHandle,
  type RedisHandle,
  type S3Handle,
} from '#libs/testing';
import { sendUpload } from '../artifacts-uploads/send-upload.js';

/**
 * The whole stack, as a client sees it through the gateway: upload an input, submit a template, watch it
 * over graphql-ws with fields of both subgraphs, download what the worker made.
 */
describe('pipeline through the gateway', () => {
  let redis: RedisHandle;
  let s3: S3Handle;
  const apps: AppHandle[] = [];
  let gatewayUrl: string;
  let key: string;
  let ws: Client;

  const gql = async <T = any>(query: string, variables?: Record<string, unknown>): Promise<T> => {
    const res = await fetch(`${gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: unknown; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data as T;
  };

  async function upload(path: string, name: string, contentType: string): Promise<string> {
    const bytes = readFileSync(path);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const { createUpload: t } = await gql(
      `mutation($i: CreateUploadInput!) { createUpload(input: $i) { artifactId uploadUrl method headers fields } }`,
      { i: { name, contentType, size: bytes.length, sha256 } },
    );
    const sent = await sendUpload(t, bytes);
    expect(sent.status).toBeLessThan(300);
    const { completeUpload } = await gql(
      `mutation($id: ID!) { completeUpload(artifactId: $id) { id sha256 size } }`,
      { id: t.artifactId },
    );
    expect(completeUpload).toMatchObject({ sha256, size: bytes.length });
    return t.artifactId;
  }

  function watch(
    jobId: string,
  ): Promise<
    Array<{ seq: number; type: string; job: { status: string; artifacts: Array<{ name: string }> } }>
  > {
    return new Promise((resolve, reject) => {
      const events: any[] = [];
      ws.subscribe(
        {
          query: `subscription($id: ID!) { jobEvents(jobId: $id) { seq type nodeId progress job { status artifacts { name } } } }`,
          variables: { id: jobId },
        },
        {
          next: (m) => {
            if (m.errors) reject(new Error(JSON.stringify(m.errors)));
            else events.push(m.data!.jobEvents);
          },
          error: reject,
          complete: () => resolve(events),
        },
      );
    });
  }

  beforeAll(async () => {
    redis = await startRedis();
    s3 = await startS3();
    const [jobsPort, artifactsPort, workerPort, gatewayPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const env = {
      ...s3.env,
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: tempDir('pipeline'),
      JOBS_SUBGRAPH_PORT: String(jobsPort),
      ARTIFACTS_SUBGRAPH_PORT: String(artifactsPort),
      WORKER_HEALTH_PORT: String(workerPort),
      GATEWAY_PORT: String(gatewayPort),
      JOBS_SUBGRAPH_URL: `http://127.0.0.1:${jobsPort}/graphql`,
      ARTIFACTS_SUBGRAPH_URL: `http://127.0.0.1:${artifactsPort}/graphql`,
      WORKER_CPU_ACTORS: '2',
    };
    for (const [app, port] of [
      ['jobs-subgraph', jobsPort],
      ['artifacts-subgraph', artifactsPort],
      ['gpu-worker', workerPort],
      ['gateway', gatewayPort],
    ] as const) {
      const h = await startApp(`dist/apps/${app}/src/main.js`, env, port);
      apps.push(h);
      await h.waitReady(60_000);
    }
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const r = new Redis(redis.url);
    key = (await new ApiKeyStore(r).create({ tenant: 'pipeline', scopes: [...ALL_SCOPES], name: 'e2e' })).key;
    await r.quit();
    ws = createClient({
      url: `ws://127.0.0.1:${gatewayPort}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
    });
  }, 180_000);

  afterAll(async () => {
    await ws?.dispose();
    for (const a of apps.reverse()) await a.stop();
    await s3?.stop();
    await redis?.stop();
  });

  it('thumbnail: upload → submit → live events with artifacts → download the resized image', async () => {
    const image = await upload(join(REPO_ROOT, 'data/sample.png'), 'sample.png', 'image/png');
    const { submitJob } = await gql(
      `mutation($p: JSON) { submitJob(input: { template: "thumbnail", params: $p }) { id status template } }`,
      { p: { image, width: 32 } },
    );
    expect(submitJob.template).toBe('thumbnail');
    const events = await watch(submitJob.id);

    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i)); // contiguous, no duplicate
    expect(events.at(-1)!.type).toBe('JOB_SUCCEEDED');
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['NODE_STARTED', 'NODE_SUCCEEDED', 'ARTIFACT_CREATED']),
    );
    expect(events.at(-1)!.job.artifacts.length).toBeGreaterThan(0); // a field of the artifacts subgraph, per event

    const { job } = await gql(
      `query($id: ID!) { job(id: $id) { status progress nodes { id task status outputs attempts } artifacts { id name contentType downloadUrl } } }`,
      { id: submitJob.id },
    );
    expect(job.status).toBe('SUCCEEDED');
    expect(job.progress).toBe(1);
    const out = job.nodes[0].outputs;
    expect(out).toMatchObject({ width: 32, height: 21 }); // 96x64 keeps its aspect
    const art = job.artifacts.find((a: { id: string }) => a.id === out.image);
    expect(art).toBeDefined();
    const bytes = Buffer.from(await (await fetch(art.downloadUrl)).arrayBuffer());
    const meta = await sharp(bytes).metadata();
    expect([meta.width, meta.height]).toEqual([32, 21]);
  }, 120_000);

  it('train-and-evaluate: the model trained by one node is evaluated by the next', async () => {
    const dataset = await upload(join(REPO_ROOT, 'data/blobs-3class.csv'), 'blobs.csv', 'text/csv');
    const { submitJob } = await gql(
      `mutation($p: JSON) { submitJob(input: { template: "train-and-evaluate", params: $p }) { id } }`,
      {
        p: { dataset, epochs: 30 },
      },
    );
    const events = await watch(submitJob.id);
    expect(events.at(-1)!.type).toBe('JOB_SUCCEEDED');
    expect(events.filter((e) => e.type === 'NODE_PROGRESS').length).toBeGreaterThan(0);
    const { job } = await gql(`query($id: ID!) { job(id: $id) { nodes { id outputs } } }`, {
      id: submitJob.id,
    });
    const train = job.nodes.find((n: { id: string }) => n.id === 'train').outputs;
    const evaluate = job.nodes.find((n: { id: string }) => n.id === 'evaluate').outputs;
    expect(train.epochs).toBe(30);
    expect(evaluate.rows).toBe(300);
    expect(evaluate.accuracy).toBeGreaterThan(0.6); // three classes: chance is 1/3

    // the job's artifacts a page at a time through the gateway: the same ones, in the order of Job.artifacts
    const listed = (
      await gql(`query($id: ID!) { job(id: $id) { artifacts { id } } }`, { id: submitJob.id })
    ).job.artifacts.map((a: { id: string }) => a.id);
    expect(listed.length).toBeGreaterThan(0);
    const paged: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages <= listed.length; pages++) {
      type Page = {
        edges: Array<{ node: { id: string } }>;
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
      const { job: p }: { job: { artifactsPage: Page } } = await gql(
        `query($id: ID!, $after: String) { job(id: $id) { artifactsPage(first: 1, after: $after) {
          edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }`,
        { id: submitJob.id, after },
      );
      paged.push(...p.artifactsPage.edges.map((e) => e.node.id));
      if (!p.artifactsPage.pageInfo.hasNextPage) break;
      after = p.artifactsPage.pageInfo.endCursor;
    }
    expect(paged).toEqual(listed);
    const forged = await fetch(`${gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({
        query: `query($id: ID!) { job(id: $id) { id artifactsPage(first: 1, after: "Zm9yZ2Vk") { edges { cursor } } } }`,
        variables: { id: submitJob.id },
      }),
    });
    const body = (await forged.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    expect(body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
  }, 240_000);
});
