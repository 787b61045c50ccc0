// The processes a gateway scenario needs, started from the built JS on loopback: redis, the local S3
// server, both subgraphs, optionally a gpu-worker with the test tasks, and the gateway.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import { ApiKeyStore } from '#libs/auth';
import type { Scope } from '#libs/contracts';
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
import { startWorker } from '../worker-support/start-worker.js';
import { startSubgraphRecorder, type SubgraphRecorder } from './subgraph-recorder.js';

export const IDENTITY_SECRET = 'gateway-e2e-identity-secret-0123456789abcdef';

export interface GatewayStack {
  redis: RedisHandle;
  s3: S3Handle;
  jobs: AppHandle;
  artifacts: AppHandle;
  worker?: AppHandle;
  gateway: AppHandle;
  /** What the jobs subgraph receives from the gateway over graphql-ws (with `recordJobsSubgraph`). */
  jobsRecorder?: SubgraphRecorder;
  /** Env every app got (ports, URLs, secrets). */
  env: Record<string, string>;
  /** A copy of graphql/supergraph.graphql the gateway reads and watches. */
  supergraphPath: string;
  url: string;
  wsUrl: string;
  createKey(tenant: string, scopes: Scope[], name?: string): Promise<{ id: string; key: string }>;
  revokeKey(id: string): Promise<void>;
  /** Starts the jobs subgraph again on the same port (after jobs.kill/stop). */
  restartJobs(): Promise<void>;
  /** Starts the gateway again on the same port (after gateway.kill/stop). */
  restartGateway(): Promise<void>;
  stop(): Promise<void>;
}

export async function startGatewayStack(
  opts: {
    worker?: boolean;
    gatewayEnv?: Record<string, string>;
    jobsEnv?: Record<string, string>;
    artifactsEnv?: Record<string, string>;
    workerEnv?: Record<string, string>;
    /** For every app (on top of the stack's own settings). */
    env?: Record<string, string>;
    /** The gateway reaches the jobs subgraph through a SubgraphRecorder (`jobsRecorder`). */
    recordJobsSubgraph?: boolean;
  } = {},
): Promise<GatewayStack> {
  const redis = await startRedis();
  const s3 = await startS3();
  const [jobsPort, artifactsPort, gatewayPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const dataDir = tempDir('gateway-e2e');
  const supergraphPath = join(dataDir, 'supergraph.graphql');
  copyFileSync(join(REPO_ROOT, 'graphql/supergraph.graphql'), supergraphPath);
  const env: Record<string, string> = {
    ...s3.env,
    NODE_ENV: 'test',
    REDIS_URL: redis.url,
    SWITCHYARD_DATA_DIR: dataDir,
    SWITCHYARD_IDENTITY_SECRET: IDENTITY_SECRET,
    JOBS_SUBGRAPH_PORT: String(jobsPort),
    ARTIFACTS_SUBGRAPH_PORT: String(artifactsPort),
    GATEWAY_PORT: String(gatewayPort),
    JOBS_SUBGRAPH_URL: `http://127.0.0.1:${jobsPort}/graphql`,
    ARTIFACTS_SUBGRAPH_URL: `http://127.0.0.1:${artifactsPort}/graphql`,
    SUPERGRAPH_PATH: supergraphPath,
    SHUTDOWN_GRACE_MS: '8000',
    ...opts.env,
  };
  const apps: AppHandle[] = [];
  const start = async (app: string, port: number, extra: Record<string, string> = {}) => {
    const h = await startApp(`dist/apps/${app}/src/main.js`, { ...env, ...extra }, port);
    apps.push(h);
    await h.waitReady(90_000);
    return h;
  };
  let jobs = await start('jobs-subgraph', jobsPort, opts.jobsEnv);
  const artifacts = await start('artifacts-subgraph', artifactsPort, opts.artifactsEnv);
  const worker = opts.worker ? await startWorker('gw-e2e-worker', { ...env, ...opts.workerEnv }) : undefined;
  if (worker) apps.push(worker);
  const jobsRecorder = opts.recordJobsSubgraph
    ? await startSubgraphRecorder(env.JOBS_SUBGRAPH_URL!, IDENTITY_SECRET)
    : undefined;
  const gatewayEnv = jobsRecorder
    ? { ...opts.gatewayEnv, JOBS_SUBGRAPH_URL: jobsRecorder.url }
    : opts.gatewayEnv;
  let gateway = await start('gateway', gatewayPort, gatewayEnv);
  const keysRedis = new Redis(redis.url);
  const keys = new ApiKeyStore(keysRedis);
  const stack: GatewayStack = {
    redis,
    s3,
    get jobs() {
      return jobs;
    },
    artifacts,
    worker,
    jobsRecorder,
    get gateway() {
      return gateway;
    },
    env,
    supergraphPath,
    url: `http://127.0.0.1:${gatewayPort}/graphql`,
    wsUrl: `ws://127.0.0.1:${gatewayPort}/graphql`,
    async createKey(tenant, scopes, name) {
      const { key, record } = await keys.create({ tenant, scopes, name });
      return { id: record.id, key };
    },
    async revokeKey(id) {
      await keys.revoke(id);
    },
    async restartJobs() {
      jobs = await start('jobs-subgraph', jobsPort, opts.jobsEnv);
    },
    async restartGateway() {
      gateway = await start('gateway', gatewayPort, gatewayEnv);
    },
    async stop() {
      keysRedis.disconnect();
      for (const a of apps.reverse()) await a.stop().catch(() => undefined);
      await jobsRecorder?.stop();
      await s3.stop();
      await redis.stop();
    },
  };
  return stack;
}

export interface GqlResponse<T = any> {
  status: number;
  headers: Headers;
  body: { data?: T; errors?: Array<{ message: string; extensions?: Record<string, any> }> };
}

/** POST a GraphQL request; `key` null sends no Authorization header. */
export async function gql<T = any>(
  url: string,
  key: string | null,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GqlResponse<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as GqlResponse<T>['body'] };
}

export const codeOf = (r: GqlResponse) => r.body.errors?.[0]?.extensions?.code;

/** A graphql-ws client of the gateway; `closed` records close codes. */
export function wsClient(
  wsUrl: string,
  key: string | null,
  opts: { lazy?: boolean } = {},
): Client & { closes: number[] } {
  const closes: number[] = [];
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: opts.lazy ?? true,
    retryAttempts: 0,
    connectionParams: key ? { authorization: `Bearer ${key}` } : {},
    on: { closed: (e) => void closes.push((e as { code: number }).code) },
  });
  return Object.assign(client, { closes });
}

export interface Collected {
  results: Array<{ data?: any; errors?: any[] }>;
  done: Promise<'complete' | 'error'>;
  error?: unknown;
  dispose: () => void;
}

/** Subscribes and collects every message; `done` settles on complete or error (never rejects). */
export function collect(client: Client, query: string, variables?: Record<string, unknown>): Collected {
  const c: Collected = { results: [], done: Promise.resolve('complete'), dispose: () => undefined };
  c.done = new Promise((resolve) => {
    c.dispose = client.subscribe(
      { query, variables },
      {
        next: (r) => void c.results.push(r as never),
        error: (e) => {
          c.error = e;
          resolve('error');
        },
        complete: () => resolve('complete'),
      },
    );
  });
  return c;
}

/** A job on the worker's test.sleep task (progress about every ms/10). */
export const SLEEP_JOB = `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id status } }`;
export const SLEEP_VARS = (ms: number) => ({
  input: { graph: { nodes: [{ id: 's', task: 'test.sleep', inputs: { ms } }] } },
});
