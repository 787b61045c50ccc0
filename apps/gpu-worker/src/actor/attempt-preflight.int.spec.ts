import { cancelledJobKey, REDIS_KEYS, type NodeAttemptPayload } from '#libs/contracts';
import { redisPerSuite } from '#libs/testing';
import { NO_WORKER_METRICS } from '../worker-metrics.js';
import { readLeasePreflights } from './attempt-preflight.js';
import { TenantGuard } from './tenant-guard.js';

// The preflights of a lease, read from a real redis-server: each attempt's verdict, in one round trip.
const quiet = { warn: () => undefined, error: () => undefined };

const attempt = (jobId: string, nodeId: string, tenant = 'acme', n = 1): NodeAttemptPayload => ({
  jobId,
  tenant,
  nodeId,
  attempt: n,
  maxAttempts: 3,
  task: 'test.sleep',
  taskVersion: '1.0.0',
  inputs: { ms: 0 },
  timeoutMs: 10_000,
  enqueuedAt: new Date().toISOString(),
});

describe('readLeasePreflights', () => {
  const redis = redisPerSuite();

  it("answers each attempt's preflight with one MGET for the lease and one HMGET per node", async () => {
    const { client } = redis;
    const tenants = new TenantGuard(client, {
      killThreshold: 3,
      windowMs: 60_000,
      throttleMs: 60_000,
      logger: quiet,
      metrics: NO_WORKER_METRICS,
    });
    const until = Date.now() + 60_000;
    await client.set(cancelledJobKey('j2'), '1');
    await client.set(REDIS_KEYS.tenantThrottled('globex'), String(until));
    for (const [jobId, nodeId, status, n] of [
      ['j1', 'a', 'QUEUED', '1'],
      ['j1', 'b', 'RETRYING', '2'],
      ['j2', 'a', 'QUEUED', '1'],
      ['j3', 'a', 'QUEUED', '1'],
      ['j4', 'a', 'SUCCEEDED', '1'],
    ] as const)
      await client.hset(REDIS_KEYS.node(jobId, nodeId), { status, attempt: n });
    const lease = [
      attempt('j1', 'a'),
      attempt('j1', 'b', 'acme', 2), // the same job's marker: read once
      attempt('j2', 'a'),
      attempt('j3', 'a', 'globex'),
      attempt('j4', 'a'),
      attempt('j5', 'a'), // its node is gone
    ];
    await client.config('RESETSTAT');
    const pre = await readLeasePreflights({ redis: client, tenants, retryWindowMs: 1_000 }, lease);
    expect(pre).toEqual([
      { cancelled: false, throttledUntil: undefined },
      { cancelled: false, throttledUntil: undefined },
      { cancelled: true, throttledUntil: undefined },
      { cancelled: false, throttledUntil: until },
      { cancelled: false, throttledUntil: undefined, superseded: 'the node is SUCCEEDED' },
      { cancelled: false, throttledUntil: undefined, superseded: 'the node is gone' },
    ]);
    const stats = await client.info('commandstats');
    const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(calls('mget')).toBe(1);
    expect(calls('hmget')).toBe(lease.length);
  });
});
