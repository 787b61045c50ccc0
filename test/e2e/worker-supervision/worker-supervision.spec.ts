import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REDIS_KEYS } from '#libs/contracts';
import { tempDir, waitFor } from '#libs/testing';
import type { SchedulerStandIn } from '../worker-support/scheduler-stand-in.js';
import type { WorkerHandle } from '../worker-support/start-worker.js';
import { workerFixture, type WorkerFixture } from '../worker-support/worker-fixture.js';

// Runner losses are blamed on whoever caused them: a stuck task is its attempt's fault (failed STUCK,
// runner restarted, the actor stays), and a tenant that keeps killing runners is throttled; only an actor
// whose runner cannot start is quarantined, and only until its cool-down probe succeeds.
describe('worker: stuck runners, restarts, tenant throttling', () => {
  let sched: SchedulerStandIn;
  let worker: WorkerHandle;
  let fixture: WorkerFixture | undefined;

  beforeAll(async () => {
    fixture = await workerFixture('w-sup', {
      WORKER_RESTART_INTENSITY: '1',
      WORKER_RESTART_PERIOD_MS: '60000',
      WORKER_TENANT_KILL_THRESHOLD: '3',
      WORKER_TENANT_KILL_WINDOW_MS: '60000',
      WORKER_TENANT_THROTTLE_MS: '30000',
    });
    ({ sched, worker } = fixture);
  });
  afterAll(() => fixture?.stop());

  it('kills busy tasks without quarantining the actor, then throttles their tenant only', async () => {
    // three stuck attempts of tenant "mallory": each is killed and fails STUCK; the actor stays
    for (let i = 1; i <= 3; i++) {
      const busy = await sched.enqueue('test.busy', {}, { tenant: 'mallory' });
      const stuck = await sched.waitReport({ jobId: busy.jobId, type: 'failed' }, 20_000, worker.logs);
      expect(stuck).toMatchObject({ error: { code: 'STUCK', retryable: true } });
    }
    const ok = await sched.enqueue('test.sleep', { ms: 100 }, { tenant: 'acme' });
    await sched.waitReport({ jobId: ok.jobId, type: 'succeeded' }, 20_000, worker.logs);
    // BUSY → IDLE reaches the manifest within WORKER_MANIFEST_ACTIVITY_MS, not with the report
    const m = await waitFor(
      async () => {
        const x = await sched.manifest('w-sup');
        return x?.actors[0]?.state === 'IDLE' ? x : undefined;
      },
      { what: 'the manifest to show the actor IDLE again' },
    );
    expect(m.actors[0]).toMatchObject({ state: 'IDLE', restarts: 3 });
    expect(m.actors[0]!.quarantine).toBeUndefined();
    expect((await fetch(`${worker.url}/health/ready`)).status).toBe(200);

    // mallory is now throttled (shared in Redis): failed fast, retryable, with the retry time
    const until = Number(await sched.redis.get(REDIS_KEYS.tenantThrottled('mallory')));
    expect(until).toBeGreaterThan(Date.now());
    const again = await sched.enqueue('test.busy', {}, { tenant: 'mallory' });
    const refused = await sched.waitReport({ jobId: again.jobId, type: 'failed' }, 10_000, worker.logs);
    expect(refused).toMatchObject({ error: { code: 'TENANT_THROTTLED', retryable: true } });
    expect(refused.type === 'failed' && refused.error.message).toContain(new Date(until).toISOString());
    expect(await sched.reports({ jobId: again.jobId, type: 'started' })).toEqual([]);

    // other tenants keep running
    const other = await sched.enqueue('test.sleep', { ms: 50 }, { tenant: 'acme' });
    await sched.waitReport({ jobId: other.jobId, type: 'succeeded' }, 10_000, worker.logs);
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    // counted without the tenant: the worker's /metrics is no tenant's to read (the log lines name it)
    expect(metrics).toMatch(/switchyard_worker_tenant_runner_kills_total\{[^}]*\} 3/);
    expect(metrics).toMatch(/switchyard_worker_tenant_throttles_total\{[^}]*\} 1/);
    expect(metrics).not.toContain('mallory');
    expect(worker.logs()).toMatch(/"tenant":"mallory".*"msg":"runner killed by a tenant attempt"/);
    expect(metrics).not.toMatch(/switchyard_worker_quarantines_total\{[^}]*\} [1-9]/);
  });
});

describe('worker: an actor whose runner cannot start', () => {
  let sched: SchedulerStandIn;
  let worker: WorkerHandle;
  let fixture: WorkerFixture | undefined;
  const dir = tempDir('worker-quarantine');
  const tasksFile = join(dir, 'command-tasks.json');

  beforeAll(async () => {
    writeFileSync(tasksFile, '{ not json'); // every runner boot fails: the actor's own fault
    fixture = await workerFixture(
      'w-quar',
      {
        SWITCHYARD_DATA_DIR: dir,
        WORKER_COMMAND_TASKS_FILE: tasksFile,
        WORKER_RESTART_INTENSITY: '1',
        ACTOR_QUARANTINE_COOLDOWN_MS: '4000',
      },
      { waitReady: false },
    );
    ({ sched, worker } = fixture);
  });
  afterAll(() => fixture?.stop());

  it('is quarantined with its reason and cool-down, then comes back once its runner starts', async () => {
    const q = await waitFor(
      async () => {
        const man = await sched.manifest('w-quar');
        return man?.actors[0]?.state === 'QUARANTINED' ? man : null;
      },
      { timeoutMs: 30_000, what: 'a quarantined actor', logs: worker.logs },
    );
    expect(q.ready).toBe(false);
    const info = q.actors[0]!.quarantine!;
    expect(info.reason).toMatch(/runner failed to boot/);
    expect(Date.parse(info.until) - Date.parse(info.since)).toBe(4000);
    expect((await fetch(`${worker.url}/health/ready`)).status).toBe(503);
    const parked = await sched.enqueue('test.sleep', { ms: 10 });

    // the cool-down probe fails while the cause is still there: quarantined again, with a new cool-down
    await waitFor(
      async () => {
        const man = await sched.manifest('w-quar');
        const again = man?.actors[0]?.quarantine;
        return again && again.since !== info.since ? again : null;
      },
      { timeoutMs: 15_000, what: 'a failed probe', logs: worker.logs },
    );

    // the operator fixes the cause: the next probe starts the runner and the actor leases again
    writeFileSync(tasksFile, JSON.stringify({ tasks: [] }));
    await sched.waitReport({ jobId: parked.jobId, type: 'succeeded' }, 20_000, worker.logs);
    const back = await sched.manifest('w-quar');
    expect(back!.actors[0]!.state).not.toBe('QUARANTINED');
    expect(back!.actors[0]!.quarantine).toBeUndefined();
    await waitFor(async () => (await fetch(`${worker.url}/health/ready`)).status === 200, {
      what: 'ready again',
      logs: worker.logs,
    });
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_worker_quarantine_probes_total\{[^}]*outcome="failed"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/switchyard_worker_quarantine_probes_total\{[^}]*outcome="recovered"[^}]*\} 1/);
    expect(worker.logs()).toMatch(/actor recovered from quarantine/);
  });
});
