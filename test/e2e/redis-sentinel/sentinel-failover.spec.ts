import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ApiKeyStore } from '#libs/auth';
import { findRedisServer, spawnRedisServer, spawnS3Server, waitForPort } from '#libs/local-stack';
import { freePort, startApp, tempDir, waitFor, type AppHandle } from '#libs/testing';
import { EventLog } from '../../../apps/jobs-subgraph/src/events/event-log.js';
import { gql } from '../gateway-support/gateway-stack.js';
import { startWorker } from '../worker-support/start-worker.js';

const SENTINEL_NAME = 'switchyard';
const JOBS = 16;

/** A sentinel (the same redis-server binary in sentinel mode) watching the primary on `primaryPort`. */
function spawnSentinel(dir: string, port: number, primaryPort: number): ChildProcess {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'sentinel.conf'); // sentinels rewrite their config: it must be a writable file
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_NAME} 5000`,
      `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
      '',
    ].join('\n'),
  );
  return spawn(findRedisServer()!, [conf, '--sentinel'], { stdio: 'ignore' });
}

/**
 * Redis Sentinel through a failover: a primary and a replica (AOF on both), three sentinels, and every app
 * connected through REDIS_SENTINELS. Jobs run while the primary is SIGKILLed; the sentinels promote the
 * replica, the apps follow, every job succeeds and every node completes exactly once.
 */
describe('Redis Sentinel: the primary fails over while jobs run', () => {
  const dir = tempDir('sentinel');
  const servers: ChildProcess[] = [];
  const apps: AppHandle[] = [];
  let primary: ChildProcess;
  let sentinels: Array<{ host: string; port: number }> = [];
  let replicaPort = 0;
  let client: Redis;
  let gatewayUrl = '';
  let key = '';

  beforeAll(async () => {
    const [primaryPort, replica, s3Port, jobsPort, artifactsPort, gatewayPort] = await Promise.all(
      Array.from({ length: 6 }, () => freePort()),
    );
    replicaPort = replica;
    primary = spawnRedisServer({ port: primaryPort, dir: join(dir, 'primary') });
    servers.push(primary);
    await waitForPort(primaryPort);
    servers.push(
      spawnRedisServer({
        port: replicaPort,
        dir: join(dir, 'replica'),
        extraArgs: ['--replicaof', '127.0.0.1', String(primaryPort)],
      }),
    );
    sentinels = await Promise.all([0, 1, 2].map(async () => ({ host: '127.0.0.1', port: await freePort() })));
    sentinels.forEach((s, i) => servers.push(spawnSentinel(join(dir, `sentinel-${i}`), s.port, primaryPort)));
    servers.push(spawnS3Server({ port: s3Port, dir: join(dir, 's3'), bucket: 'switchyard-sentinel' }));
    await Promise.all([replicaPort, s3Port, ...sentinels.map((s) => s.port)].map((p) => waitForPort(p)));
    // The sentinels know the replica (and each other) before anything depends on a failover.
    const probe = new Redis(sentinels[0]!.port, '127.0.0.1');
    await waitFor(
      async () => {
        const replicas = (await probe.call('SENTINEL', 'REPLICAS', SENTINEL_NAME)) as unknown[];
        const peers = (await probe.call('SENTINEL', 'SENTINELS', SENTINEL_NAME)) as unknown[];
        return replicas.length === 1 && peers.length === 2;
      },
      { timeoutMs: 30_000, what: 'sentinels discovering the replica and each other' },
    );
    probe.disconnect();

    client = new Redis({ sentinels, name: SENTINEL_NAME, maxRetriesPerRequest: 20 });
    client.on('error', () => undefined); // reconnects through the sentinels; the test asserts outcomes
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      REDIS_URL: 'redis://ignored-with-sentinels:6379',
      REDIS_SENTINELS: sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      REDIS_SENTINEL_NAME: SENTINEL_NAME,
      S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
      S3_ACCESS_KEY: 'S3RVER',
      S3_SECRET_KEY: 'S3RVER',
      S3_BUCKET: 'switchyard-sentinel',
      SWITCHYARD_DATA_DIR: dir,
      SWITCHYARD_IDENTITY_SECRET: 'sentinel-e2e-identity-secret-0123456789abcdef',
      JOBS_SUBGRAPH_PORT: String(jobsPort),
      ARTIFACTS_SUBGRAPH_PORT: String(artifactsPort),
      GATEWAY_PORT: String(gatewayPort),
      JOBS_SUBGRAPH_URL: `http://127.0.0.1:${jobsPort}/graphql`,
      ARTIFACTS_SUBGRAPH_URL: `http://127.0.0.1:${artifactsPort}/graphql`,
      RECONCILE_INTERVAL_MS: '1000',
    };
    for (const [app, port] of [
      ['jobs-subgraph', jobsPort],
      ['artifacts-subgraph', artifactsPort],
      ['gateway', gatewayPort],
    ] as const) {
      const h = await startApp(`dist/apps/${app}/src/main.js`, env, port);
      apps.push(h);
      await h.waitReady(90_000);
    }
    apps.push(await startWorker('sentinel-worker', env));
    gatewayUrl = `http://127.0.0.1:${gatewayPort}/graphql`;
    ({ key } = await new ApiKeyStore(client).create({ tenant: 'ha', scopes: ['jobs:read', 'jobs:write'] }));
  }, 240_000);

  afterAll(async () => {
    client?.disconnect();
    for (const a of apps.reverse()) await a.stop().catch(() => undefined);
    for (const s of servers) s.kill('SIGKILL');
  });

  it('loses no job and completes no node twice', async () => {
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const r = await gql(
        gatewayUrl,
        key,
        `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id } }`,
        {
          input: {
            graph: {
              nodes: [
                { id: 'a', task: 'test.sleep', inputs: { ms: 1000 }, attempts: 5 },
                { id: 'b', task: 'test.sleep', inputs: { ms: 100 }, dependsOn: ['a'], attempts: 5 },
              ],
            },
          },
        },
      );
      expect(r.body.errors).toBeUndefined();
      ids.push(r.body.data.submitJob.id);
    }
    // Every acknowledged submit is on the replica before the primary dies (replication is asynchronous:
    // a write acknowledged in the last instant before a crash is Redis Sentinel's documented loss window).
    // The offset is read once, after the submits: the stack keeps writing (leases, heartbeats, the running
    // jobs), so the primary's current offset may stay ahead of the replica's last ack on a busy machine.
    const submitted = Number(/master_repl_offset:(\d+)/.exec(await client.info('replication'))?.[1]);
    await waitFor(
      async () => {
        const info = await client.info('replication');
        const acked = Number(/slave0:.*offset=(\d+)/.exec(info)?.[1] ?? -1);
        return acked >= submitted;
      },
      { timeoutMs: 10_000, what: 'the replica caught up' },
    );

    // ~18 s of work on one actor: the primary dies with most of it still queued or running.
    primary.kill('SIGKILL');

    const statuses = await waitFor(
      async () => {
        const r = await gql(gatewayUrl, key, '{ a: jobs(first: 100) { edges { node { id status } } } }');
        if (r.body.errors) return null;
        const byId = new Map<string, string>(r.body.data.a.edges.map((e: any) => [e.node.id, e.node.status]));
        return ids.every((id) => byId.get(id) === 'SUCCEEDED') ? byId : null;
      },
      {
        timeoutMs: 150_000,
        intervalMs: 500,
        what: 'every job succeeded after the failover',
        logs: () => apps.map((a) => a.logs().slice(-1500)).join('\n---\n'),
      },
    );
    expect([...statuses.values()].filter((s) => s === 'SUCCEEDED')).toHaveLength(JOBS);
    // The replica really took over.
    const probe = new Redis(sentinels[1]!.port, '127.0.0.1');
    const [, port] = (await probe.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_NAME)) as [
      string,
      string,
    ];
    probe.disconnect();
    expect(Number(port)).toBe(replicaPort);

    // Exactly one NODE_SUCCEEDED per node and one JOB_SUCCEEDED per job in each job's event log.
    const log = new EventLog(client);
    for (const id of ids) {
      const types = (await log.jobEventsAfter(id, 0, 10_000)).map((e) => e.event);
      const succeeded = types
        .filter((e) => e.type === 'NODE_SUCCEEDED')
        .map((e) => e.nodeId)
        .sort();
      expect([id, succeeded]).toEqual([id, ['a', 'b']]);
      expect([id, types.filter((e) => e.type === 'JOB_SUCCEEDED').length]).toEqual([id, 1]);
    }
  }, 300_000);
});
