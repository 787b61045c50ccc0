import { attemptJobId, type JsonObject } from '#libs/contracts';
import { startRedis, waitFor, redisPerSuite } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestTaskFailure, TestWorker } from '../../test/test-worker.js';
import { allEvents, single, waitForJob } from '../../test/scenario.js';
import { FAIR_KEYS, FairQueue } from './fair-queue.js';
import { DEFAULT_ENQUEUE_GRACE_MS, Reconciler } from './reconciler.js';

const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FLOOD = Number(process.env.FAIR_SHARE_FLOOD ?? 500);

/** A worker whose test.emit takes `ms`, leasing `concurrency` attempts at once. */
const worker = (url: string, concurrency: number, ms = 0) =>
  new TestWorker({
    url,
    tasks,
    concurrency,
    handlers: {
      'test.emit': async (p: { inputs: JsonObject }) => {
        if (ms > 0) await sleep(ms);
        return { value: p.inputs.value as number };
      },
    },
  });

/** Submits many one-node jobs for one tenant, a few at a time. */
async function flood(core: CoreHarness, tenant: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 25) {
    const batch = Array.from({ length: Math.min(25, count - i) }, (_, k) =>
      core.service.submitJob(tenant, single('test.emit', { value: i + k })),
    );
    ids.push(...(await Promise.all(batch)).map((r) => r.job.id));
  }
  return ids;
}

describe('fair share between tenants (real redis-server, in-test worker)', () => {
  const redis = redisPerSuite();

  it(`a tenant with ${FLOOD} queued nodes delays another tenant's single job by a few nodes only`, async () => {
    const WINDOW = 4;
    const CONCURRENCY = 4;
    const core = await startCore(redis.url, { dispatchWindow: WINDOW });
    const manifest = worker(redis.url, 1);
    await manifest.publishManifest();
    let runner: TestWorker | undefined;
    try {
      const t0 = Date.now();
      const floodIds = await flood(core, 'flooder', FLOOD);
      const t1 = Date.now();
      expect(await core.redis.hlen(FAIR_KEYS.held('cpu'))).toBe(Math.max(0, FLOOD - WINDOW));
      runner = await worker(redis.url, CONCURRENCY, 5).start();
      await waitFor(async () => runner!.leases.length >= 20);
      const submittedAt = runner.leases.length;
      const { job } = await core.service.submitJob('quiet', single('test.emit', { value: -1 }));
      await waitForJob(core, 'quiet', job.id, (v) => v.job.status === 'SUCCEEDED', 30_000);
      const position = runner.leases.findIndex((l) => l.jobId === job.id);
      const floodNodesFirst = position - submittedAt;
      // B's attempt waits behind what was already in the window (and what the actors held), then takes the next turn
      expect(floodNodesFirst).toBeLessThanOrEqual(WINDOW + CONCURRENCY + 2);
      console.info(
        `fair share: ${floodNodesFirst} of the flood's ${FLOOD} nodes started before the other tenant's node`,
      );

      for (const id of floodIds)
        await waitForJob(core, 'flooder', id, (v) => v.job.status === 'SUCCEEDED', 60_000);
      console.info(`flood: submit ${t1 - t0} ms, run ${Date.now() - t1} ms`);
      const runs = runner.ran.map((p) => attemptJobId(p.jobId, p.nodeId, p.attempt));
      expect(new Set(runs).size).toBe(FLOOD + 1);
      expect(runs).toHaveLength(FLOOD + 1);
      expect(await core.enqueuer.stageDepth()).toMatchObject({
        cpu: { held: 0, delayed: 0, tenants: 0, dispatched: 0 },
      });
    } finally {
      await runner?.stop();
      await manifest.stop();
      await core.close();
    }
  }, 120_000);

  it("priority still orders one tenant's own nodes", async () => {
    const core = await startCore(redis.url, { dispatchWindow: 1 });
    const manifest = worker(redis.url, 1);
    await manifest.publishManifest();
    let runner: TestWorker | undefined;
    try {
      const ids: Record<string, string> = {};
      for (const [name, priority] of [
        ['first', 0],
        ['p0', 0],
        ['p10', 10],
        ['p5-a', 5],
        ['p5-b', 5],
        ['p1000', 1000],
      ] as const) {
        ids[name] = (
          await core.service.submitJob('acme', single('test.emit', { value: 1 }, { priority }))
        ).job.id;
        await sleep(2);
      }
      runner = await worker(redis.url, 1).start();
      for (const id of Object.values(ids))
        await waitForJob(core, 'acme', id, (v) => v.job.status === 'SUCCEEDED');
      const byId = Object.fromEntries(Object.entries(ids).map(([n, id]) => [id, n]));
      // `first` was in the node queue before the others arrived
      expect(runner.ran.map((p) => byId[p.jobId])).toEqual(['first', 'p1000', 'p10', 'p5-a', 'p5-b', 'p0']);
    } finally {
      await runner?.stop();
      await manifest.stop();
      await core.close();
    }
  });

  it('a dispatcher killed between its pop and the queue add loses nothing: the reconciler adds it, it runs once', async () => {
    let skewMs = 0;
    const core = await startCore(redis.url, { dispatchWindow: 1, now: () => Date.now() + skewMs });
    const manifest = worker(redis.url, 1);
    await manifest.publishManifest();
    let runner: TestWorker | undefined;
    try {
      const { job: x1 } = await core.service.submitJob('acme', single('test.emit', { value: 1 }));
      const { job: x2 } = await core.service.submitJob('other', single('test.emit', { value: 2 }));
      expect(await core.enqueuer.inspect('cpu', x2.id, 'only', 1)).toEqual({
        state: 'waiting',
        held: true,
        dispatchedAt: null,
      });
      // another replica frees x1's slot, pops x2 for the queue and dies before adding it
      const dying = new FairQueue(core.redis, 1);
      const popped = await dying.release('cpu', attemptJobId(x1.id, 'only', 1));
      expect(popped.dispatched.map((d) => d.entry.payload.jobId)).toEqual([x2.id]);
      expect(await core.enqueuer.state('cpu', x2.id, 'only', 1)).toBe('missing');
      // a pass right after the pop cannot tell a dead dispatcher from one whose add is under way
      expect(await core.reconciler.reconcileOnce()).toEqual({ jobs: 2, actions: 0 });

      skewMs = DEFAULT_ENQUEUE_GRACE_MS;
      expect(await core.reconciler.reconcileOnce()).toEqual({ jobs: 2, actions: 1 });
      expect(core.logger.lines.some((l) => l.msg === 'reconciler: reenqueued')).toBe(true);
      expect(await core.enqueuer.state('cpu', x2.id, 'only', 1)).toBe('waiting');
      // a second pass (or the other replica's) changes nothing
      expect((await core.reconciler.reconcileOnce()).actions).toBe(0);

      runner = await worker(redis.url, 2).start();
      for (const [tenant, id] of [
        ['acme', x1.id],
        ['other', x2.id],
      ] as const)
        await waitForJob(core, tenant, id, (v) => v.job.status === 'SUCCEEDED');
      expect(runner.ran.map((p) => `${p.jobId}/${p.attempt}`).sort()).toEqual(
        [`${x1.id}/1`, `${x2.id}/1`].sort(),
      );
      expect(await core.enqueuer.maintain()).toEqual({ released: 0, dispatched: 0, healed: 0 });
      expect(await core.redis.zcard(FAIR_KEYS.dispatched('cpu'))).toBe(0);
    } finally {
      await runner?.stop();
      await manifest.stop();
      await core.close();
    }
  });

  it('schedule-to-start: held attempts wait their turn while a worker offers the task, and fail once none does', async () => {
    const core = await startCore(redis.url, { dispatchWindow: 1, startConsumer: false });
    const manifest = worker(redis.url, 1);
    await manifest.publishManifest();
    let offered = new Map([['test.emit', { backlog: false }]]);
    const strict = new Reconciler(
      core.redis,
      core.scheduler,
      core.enqueuer,
      async () => offered,
      // 1 s (was 200 ms): the pass right after a dispatch, a few Redis reads later, must come within it also
      // on a loaded CI machine
      { scheduleToStartMs: 1_000 },
      core.logger,
    );
    try {
      // a leader's clock for offered tasks starts at its first pass (it knows of no backlog before)
      expect(await strict.reconcileOnce()).toEqual({ jobs: 0, actions: 0 });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push((await core.service.submitJob('acme', single('test.emit', { value: i }))).job.id);
      await sleep(1_100);
      // only the dispatched one was startable all along; its failure frees the slot for the next
      expect(await strict.reconcileOnce()).toEqual({ jobs: 3, actions: 1 });
      const status = async () =>
        Promise.all(ids.map(async (id) => (await core.service.job('acme', id))!.job.status));
      expect(await status()).toEqual(['FAILED', 'QUEUED', 'QUEUED']);
      const first = (await core.service.job('acme', ids[0]!))!.nodes[0]!;
      expect(first.error).toMatchObject({ code: 'UNSCHEDULABLE' });
      expect(first.error!.message).toMatch(/no worker started test\.emit/);
      expect(await core.enqueuer.inspect('cpu', ids[1]!, 'only', 1)).toMatchObject({ held: false });
      // the newly dispatched one gets its full schedule-to-start from its dispatch
      expect((await strict.reconcileOnce()).actions).toBe(0);

      offered = new Map();
      await sleep(1_100);
      expect(await strict.reconcileOnce()).toEqual({ jobs: 2, actions: 2 });
      expect(await status()).toEqual(['FAILED', 'FAILED', 'FAILED']);
      const last = (await core.service.job('acme', ids[2]!))!.nodes[0]!;
      expect(last.error!.message).toMatch(/no live worker offers test\.emit/);
      expect(await core.enqueuer.stageDepth()).toMatchObject({ cpu: { held: 0, dispatched: 0 } });
    } finally {
      await manifest.stop();
      await core.close();
    }
  });

  it('cancelling a job takes its attempts out of the fair stage and frees their slots', async () => {
    const core = await startCore(redis.url, { dispatchWindow: 1, startConsumer: false });
    const manifest = worker(redis.url, 1);
    await manifest.publishManifest();
    try {
      const { job: blocker } = await core.service.submitJob('acme', single('test.emit', { value: 0 }));
      const { job: held } = await core.service.submitJob('other', single('test.emit', { value: 1 }));
      expect(await core.enqueuer.state('cpu', held.id, 'only', 1)).toBe('waiting');
      await core.service.cancelJob('other', held.id);
      expect(await core.enqueuer.state('cpu', held.id, 'only', 1)).toBe('missing');
      expect(await core.enqueuer.stageDepth()).toMatchObject({ cpu: { held: 0, tenants: 0, dispatched: 1 } });
      await core.service.cancelJob('acme', blocker.id);
      expect(await core.enqueuer.state('cpu', blocker.id, 'only', 1)).toBe('missing');
      expect(await core.enqueuer.stageDepth()).toMatchObject({ cpu: { held: 0, dispatched: 0 } });
    } finally {
      await manifest.stop();
      await core.close();
    }
  });

  it('a retry waits out its backoff in the fair stage (delayed), then runs', async () => {
    const core = await startCore(redis.url, { dispatchWindow: 1, backoffBaseMs: 400 });
    let calls = 0;
    const runner = await new TestWorker({
      url: redis.url,
      tasks,
      handlers: {
        'test.emit': async (p) => {
          if (++calls === 1)
            throw new TestTaskFailure({ code: 'TASK_FAILED', message: 'transient', retryable: true });
          return { value: p.inputs.value as number };
        },
      },
    }).start();
    try {
      const { job } = await core.service.submitJob('acme', single('test.emit', { value: 3 }));
      await waitFor(async () => (await core.enqueuer.state('cpu', job.id, 'only', 2)) === 'delayed', {
        intervalMs: 10,
      });
      expect(await core.enqueuer.stageDepth()).toMatchObject({ cpu: { held: 1, delayed: 1 } });
      const done = await waitForJob(core, 'acme', job.id, (v) => v.job.status === 'SUCCEEDED');
      expect(done.nodes[0]!.attempt).toBe(2);
      expect((await allEvents(core, job.id)).map((e) => e.type)).toContain('NODE_RETRYING');
      expect(runner.ran.map((p) => p.attempt)).toEqual([1, 2]);
    } finally {
      await runner.stop();
      await core.close();
    }
  });

  it('a Redis SIGKILL and restart (AOF) mid-flood: every job completes, each node succeeds once, the stage drains', async () => {
    const own = await startRedis(); // killed here, so the other tests' server is left alone
    const core = await startCore(own.url, { dispatchWindow: 2, backoffBaseMs: 50 });
    const runner = await worker(own.url, 2, 20).start();
    let leading = true;
    // the leader's duties, as LeaderLoops runs them: reconcile, then the dispatch stage's safety net
    const leader = (async () => {
      while (leading) {
        await core.reconciler
          .reconcileOnce()
          .then(() => core.enqueuer.maintain())
          .catch(() => undefined);
        await sleep(300);
      }
    })();
    try {
      const jobs = (await flood(core, 'flooder', 40)).map((id): [string, string] => ['flooder', id]);
      const { job } = await core.service.submitJob('quiet', single('test.emit', { value: -1 }));
      jobs.push(['quiet', job.id]);
      await waitFor(async () => runner.ran.length >= 5);
      expect((await core.enqueuer.stageDepth()).cpu.held).toBeGreaterThan(0);
      await own.kill('SIGKILL');
      await sleep(500);
      await own.restart();
      for (const [tenant, id] of jobs)
        await waitForJob(core, tenant, id, (v) => v.job.status === 'SUCCEEDED', 60_000);
      for (const [, id] of jobs) {
        const events = await allEvents(core, id);
        expect(events.filter((e) => e.type === 'NODE_SUCCEEDED')).toHaveLength(1);
        expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      }
      await core.enqueuer.maintain();
      expect(await core.enqueuer.stageDepth()).toMatchObject({ cpu: { held: 0, tenants: 0, dispatched: 0 } });
    } finally {
      leading = false;
      await leader;
      await runner.stop();
      await core.close();
      await own.stop();
    }
  }, 120_000);
});
