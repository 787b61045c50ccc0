import { REDIS_KEYS } from '#libs/contracts';
import { registry } from '#libs/observability';
import { redisPerSuite } from '#libs/testing';
import { createWorkerMetrics } from '../worker-metrics.js';
import { TenantGuard } from './tenant-guard.js';

// A tenant whose attempts kill runners, against a real redis-server: throttled past the threshold, counted on
// the worker's /metrics without its name (the health port is no tenant's), named in the log lines.
describe('TenantGuard', () => {
  const redis = redisPerSuite();
  beforeEach(() => registry.resetMetrics());

  const series = async (name: string): Promise<string[]> =>
    (await registry.metrics()).split('\n').filter((l) => l.startsWith(name));

  it("counts kills and throttles without the tenant's name; the log lines name it", async () => {
    const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
    const logger = {
      warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: obj as never, msg }),
      error: (obj: object, msg: string) => lines.push({ level: 'error', obj: obj as never, msg }),
    };
    const guard = new TenantGuard(redis.client, {
      killThreshold: 2,
      windowMs: 60_000,
      throttleMs: 60_000,
      logger,
      metrics: createWorkerMetrics(),
    });
    for (let i = 0; i < 3; i++)
      await guard.runnerKilled('mallory-secret-co', 'STUCK: no heartbeat', { jobId: 'j1' });

    expect(Number(await redis.client.get(REDIS_KEYS.tenantThrottled('mallory-secret-co')))).toBeGreaterThan(
      Date.now(),
    );
    const exposed = await registry.metrics();
    expect(exposed).not.toContain('mallory-secret-co');
    expect(await series('switchyard_worker_tenant_runner_kills_total')).toEqual([
      'switchyard_worker_tenant_runner_kills_total 3',
    ]);
    expect(await series('switchyard_worker_tenant_throttles_total')).toEqual([
      'switchyard_worker_tenant_throttles_total 1',
    ]);
    const kills = lines.filter((l) => l.msg === 'runner killed by a tenant attempt');
    expect(kills).toHaveLength(3);
    expect(kills.every((l) => l.obj.tenant === 'mallory-secret-co' && l.obj.jobId === 'j1')).toBe(true);
    expect(lines.filter((l) => l.level === 'error' && l.obj.tenant === 'mallory-secret-co')).toHaveLength(1);
  });

  it('logs whose attempt killed a runner when throttling is off too', async () => {
    const lines: Record<string, unknown>[] = [];
    const guard = new TenantGuard(redis.client, {
      killThreshold: 0,
      windowMs: 60_000,
      throttleMs: 60_000,
      logger: { warn: (obj) => lines.push(obj as never), error: (obj) => lines.push(obj as never) },
      metrics: createWorkerMetrics(),
    });
    await guard.runnerKilled('globex', 'TIMEOUT: over 10 s', { jobId: 'j2' });
    expect(lines).toEqual([{ jobId: 'j2', tenant: 'globex', reason: 'TIMEOUT: over 10 s' }]);
    expect(await series('switchyard_worker_tenant_runner_kills_total')).toEqual([
      'switchyard_worker_tenant_runner_kills_total 1',
    ]);
    expect(await redis.client.exists(REDIS_KEYS.tenantThrottled('globex'))).toBe(0);
  });
});
