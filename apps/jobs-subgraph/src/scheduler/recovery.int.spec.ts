import { REDIS_KEYS, jobArtifactOrderMember, reportEntryFields, type JsonObject } from '#libs/contracts';
import { waitFor, redisPerSuite } from '#libs/testing';
import { raceReconcilers, startCore } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import {
  allEvents,
  diamond,
  ONE_NODE_SUCCESS_EVENTS,
  readReportsAs,
  reportFields,
  single,
  waitForJob,
} from '../../test/scenario.js';
import { JOB_KEYS } from './keys.js';
import { Reconciler } from './reconciler.js';

const TENANT = 'acme';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = {
  'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }),
  'test.add': async (p: { inputs: JsonObject }) => ({ sum: (p.inputs.a as number) + (p.inputs.b as number) }),
  'test.join': async (p: { inputs: JsonObject }) => ({
    total: (p.inputs.left as number) + (p.inputs.right as number),
  }),
};

describe('scheduler recovery and replicas (real redis-server)', () => {
  const redis = redisPerSuite();
  /** Reports read by the scheduler group and not yet acknowledged. */
  const pendingReports = async () =>
    ((await redis.client.xpending(REDIS_KEYS.reports, REDIS_KEYS.reportsGroup)) as [number])[0];

  it('two replicas (consumers and reconcilers both running) never double-schedule a node', async () => {
    const a = await startCore(redis.url);
    const b = await startCore(redis.url);
    const worker = await new TestWorker({ url: redis.url, tasks, handlers, concurrency: 8 }).start();
    const reconcilers = raceReconcilers([a, b]);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 15; i++)
        ids.push((await (i % 2 ? a : b).service.submitJob(TENANT, diamond(i))).job.id);
      for (const id of ids) await waitForJob(a, TENANT, id, (v) => v.job.status === 'SUCCEEDED', 30_000);
      const runs = worker.ran.map((p) => `${p.jobId}/${p.nodeId}/${p.attempt}`);
      expect(new Set(runs).size).toBe(runs.length);
      expect(runs).toHaveLength(15 * 4);
      for (const id of ids) {
        const events = await allEvents(a, id);
        expect(events.filter((e) => e.type === 'NODE_QUEUED')).toHaveLength(4);
        expect(events.filter((e) => e.type === 'JOB_SUCCEEDED')).toHaveLength(1);
      }
    } finally {
      await reconcilers.stop();
      await worker.stop();
      await a.close();
      await b.close();
    }
  });

  it('an attempt whose runner died without a report fails CRASHED (retryable) and runs again', async () => {
    const core = await startCore(redis.url);
    const crashing = await new TestWorker({
      url: redis.url,
      tasks,
      handlers,
      crashTasks: ['test.emit'],
    }).start();
    try {
      const { job } = await core.service.submitJob(TENANT, single('test.emit', { value: 4 }));
      await waitForJob(core, TENANT, job.id, (v) => v.nodes[0]!.status === 'RUNNING');
      await waitFor(async () => (await core.enqueuer.state('cpu', job.id, 'only', 1)) === 'failed');
      await crashing.stop();
      const healthy = await new TestWorker({ url: redis.url, tasks, handlers }).start();
      try {
        await waitFor(async () => (await core.reconciler.reconcileOnce()).actions > 0);
        const done = await waitForJob(core, TENANT, job.id, (v) => v.job.status === 'SUCCEEDED');
        expect(done.nodes[0]!.attempt).toBe(2);
        const retrying = (await allEvents(core, job.id)).find((e) => e.type === 'NODE_RETRYING')!;
        expect(retrying.message).toMatch(/CRASHED/);
      } finally {
        await healthy.stop();
      }
    } finally {
      await core.close();
    }
  });

  it('judges an attempt that ended without a report once the stream is applied up to its end, though later reports stay pending (steady load)', async () => {
    const core = await startCore(redis.url, { startConsumer: false });
    const crashing = await new TestWorker({
      url: redis.url,
      tasks,
      handlers,
      crashTasks: ['test.emit'],
    }).start();
    const c = redis.client;
    try {
      const { job } = await core.service.submitJob(TENANT, single('test.emit', { value: 5 }));
      await waitFor(async () => (await core.enqueuer.state('cpu', job.id, 'only', 1)) === 'failed');
      await crashing.stop();
      // the attempt's `started` is in the stream, not applied yet: no verdict, and its end is marked
      expect((await core.reconciler.reconcileOnce()).actions).toBe(0);
      expect(await readReportsAs(c, 'busy', { ack: true })).not.toEqual([]);
      // more reports keep coming and one is always being applied: the stream is never wholly caught up
      const other = { ...reportFields('another-job', TENANT), type: 'log', level: 'info', message: 'busy' };
      await c.xadd(REDIS_KEYS.reports, '*', ...reportEntryFields([JSON.stringify(other)]));
      expect(await readReportsAs(c, 'busy')).toHaveLength(1);
      expect((await core.reconciler.reconcileOnce()).actions).toBe(1);
      const retrying = (await allEvents(core, job.id)).find((e) => e.type === 'NODE_RETRYING')!;
      expect(retrying.message).toMatch(/CRASHED/);
    } finally {
      await crashing.stop();
      await core.close();
    }
  });

  // The attempt runs to completion while the pass is already under way (the registry read is the seam), so its
  // reports sit unapplied in the stream while the queue says "completed" and the node still says QUEUED.
  it.each([
    ['CRASHED', 60_000],
    ['UNSCHEDULABLE', 1],
  ])(
    'a finished attempt whose reports are not applied yet is never judged %s, even when it ends mid-pass',
    async (_verdict, scheduleToStartMs) => {
      const core = await startCore(redis.url, { startConsumer: false });
      const manifest = new TestWorker({ url: redis.url, tasks, handlers });
      await manifest.publishManifest();
      let runner: TestWorker | undefined;
      try {
        const { job } = await core.service.submitJob(TENANT, single('test.emit', { value: 7 }));
        const reconciler = new Reconciler(
          core.redis,
          core.scheduler,
          core.enqueuer,
          async () => {
            runner = await new TestWorker({ url: redis.url, tasks, handlers }).start();
            await waitFor(async () => (await core.enqueuer.state('cpu', job.id, 'only', 1)) === 'completed');
            return new Map([['test.emit', { backlog: false }]]);
          },
          { scheduleToStartMs },
          core.logger,
        );
        await new Promise((r) => setTimeout(r, 5)); // past schedule-to-start in the UNSCHEDULABLE case
        expect(await reconciler.reconcileOnce()).toEqual({ jobs: 1, actions: 0 });
        core.consumer.start();
        const done = await waitForJob(core, TENANT, job.id, (v) => v.job.status === 'SUCCEEDED');
        expect(done.nodes[0]).toMatchObject({ attempt: 1, outputs: { value: 7 } });
        expect((await allEvents(core, job.id)).map((e) => e.type)).toEqual(ONE_NODE_SUCCESS_EVENTS);
        expect(runner!.ran.map((p) => p.attempt)).toEqual([1]);
      } finally {
        await runner?.stop();
        await manifest.stop();
        await core.close();
      }
    },
  );

  it('a schedule-to-start verdict is refused once a worker has started the attempt', async () => {
    const core = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    try {
      const { job } = await core.service.submitJob(TENANT, single('test.emit', { value: 1 }));
      const error = { code: 'UNSCHEDULABLE' as const, message: 'not started in time', retryable: false };
      await core.scheduler.applyReport({
        ...reportFields(job.id, TENANT),
        type: 'started',
        actorId: 'w/cpu0',
      });
      expect(await core.scheduler.failAttempt(job.id, 'only', 1, error, { unlessStarted: true })).toBe(
        'stale',
      );
      const view = (await core.service.job(TENANT, job.id))!;
      expect(view.nodes[0]).toMatchObject({ status: 'RUNNING', attempt: 1, failures: 0 });
      expect(view.job.status).toBe('RUNNING');
    } finally {
      await manifest.stop();
      await core.close();
    }
  });

  it('a released attempt is queued again under a new attempt number without counting a failure', async () => {
    const core = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    try {
      const { job } = await core.service.submitJob(TENANT, single('test.emit', { value: 1 }));
      const base = {
        jobId: job.id,
        tenant: TENANT,
        nodeId: 'only',
        workerId: 'w',
        at: new Date().toISOString(),
      };
      await core.scheduler.applyReport({ ...base, attempt: 1, type: 'started', actorId: 'x' });
      expect(
        await core.scheduler.applyReport({ ...base, attempt: 1, type: 'released', reason: 'draining' }),
      ).toBe('applied');
      const view = (await core.service.job(TENANT, job.id))!;
      expect(view.nodes[0]).toMatchObject({ status: 'QUEUED', attempt: 2, failures: 0 });
      expect(await core.enqueuer.state('cpu', job.id, 'only', 2)).toBe('waiting');
      expect(
        await core.scheduler.applyReport({
          ...base,
          attempt: 1,
          type: 'succeeded',
          outputs: { value: 1 },
          artifactIds: [],
        }),
      ).toBe('stale');
    } finally {
      await manifest.stop();
      await core.close();
    }
  });

  it('completion commits the attempt’s staged artifacts atomically with its outputs; a foreign artifact fails it', async () => {
    const core = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    const stage = async (id: string, jobId: string, attempt: number) => {
      await redis.client.hset(REDIS_KEYS.artifact(id), {
        id,
        tenant: TENANT,
        state: 'staged',
        key: `${TENANT}/${jobId}/only/${attempt}/out.bin`,
        name: 'out.bin',
        contentType: 'application/octet-stream',
        size: '3',
        sha256: 'abc',
        jobId,
        nodeId: 'only',
        attempt: String(attempt),
        createdAt: new Date().toISOString(),
      });
      await redis.client.sadd(REDIS_KEYS.attemptArtifacts(jobId, 'only', attempt), id);
      // indexed as the stager does (its tenant's index, the tenant listed) and, for art-1, as a release before
      // per-tenant indexes did (the legacy global index): the commit takes it out of both
      await redis.client.zadd(REDIS_KEYS.tenantUncommittedArtifacts(TENANT), Date.now(), id);
      await redis.client.zadd(REDIS_KEYS.uncommittedArtifactTenants, Date.now(), TENANT);
      if (id === 'art-1') await redis.client.zadd(REDIS_KEYS.uncommittedArtifacts, Date.now(), id);
    };
    try {
      const { job } = await core.service.submitJob(TENANT, single('test.emit', { value: 1 }));
      const base = reportFields(job.id, TENANT);
      await stage('art-1', job.id, 1);
      await core.scheduler.applyReport({ ...base, type: 'started', actorId: 'x' });
      await core.scheduler.applyReport({
        ...base,
        type: 'succeeded',
        outputs: { value: 1 },
        artifactIds: ['art-1'],
      });
      expect(await redis.client.hget(REDIS_KEYS.artifact('art-1'), 'state')).toBe('committed');
      expect(await redis.client.smembers(REDIS_KEYS.jobArtifacts(job.id))).toEqual(['art-1']);
      // and its member of the job's order index, in the same step (what Job.artifactsPage seeks in)
      const committed = await redis.client.hgetall(REDIS_KEYS.artifact('art-1'));
      expect(await redis.client.zrange(REDIS_KEYS.jobArtifactOrder(job.id), '0', '-1')).toEqual([
        jobArtifactOrderMember({ ...committed, id: 'art-1' } as {
          tenant: string;
          createdAt: string;
          name: string;
          id: string;
        }),
      ]);
      expect(await redis.client.zscore(REDIS_KEYS.uncommittedArtifacts, 'art-1')).toBeNull();
      expect(await redis.client.zscore(REDIS_KEYS.tenantUncommittedArtifacts(TENANT), 'art-1')).toBeNull();
      // the tenant had no other uncommitted entry: it is no longer listed for the orphan sweep's turns
      expect(await redis.client.zscore(REDIS_KEYS.uncommittedArtifactTenants, TENANT)).toBeNull();
      const types = (await allEvents(core, job.id)).map((e) => e.type);
      expect(types.slice(-3)).toEqual(['ARTIFACT_CREATED', 'NODE_SUCCEEDED', 'JOB_SUCCEEDED']);

      const { job: other } = await core.service.submitJob(TENANT, single('test.emit', { value: 2 }));
      await stage('art-2', job.id, 1); // staged by another job's attempt
      const b2 = { ...base, jobId: other.id };
      await core.scheduler.applyReport({ ...b2, type: 'started', actorId: 'x' });
      await core.scheduler.applyReport({
        ...b2,
        type: 'succeeded',
        outputs: { value: 2 },
        artifactIds: ['art-2'],
      });
      const view = (await core.service.job(TENANT, other.id))!;
      expect(view.nodes[0]!.error!.code).toBe('INVALID_OUTPUT');
      expect(await redis.client.hget(REDIS_KEYS.artifact('art-2'), 'state')).toBe('staged');
      // still its tenant's orphan to sweep
      expect(
        await redis.client.zscore(REDIS_KEYS.tenantUncommittedArtifacts(TENANT), 'art-2'),
      ).not.toBeNull();
      expect(await redis.client.zscore(REDIS_KEYS.uncommittedArtifactTenants, TENANT)).not.toBeNull();
      expect(await redis.client.scard(REDIS_KEYS.jobArtifacts(other.id))).toBe(0);
      expect(await redis.client.zscore(JOB_KEYS.deadLetter, other.id)).not.toBeNull();
    } finally {
      await manifest.stop();
      await core.close();
    }
  });

  it('a malformed report or one that keeps failing to apply does not block the reports behind it', async () => {
    const core = await startCore(redis.url);
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    try {
      const { job: broken } = await core.service.submitJob(TENANT, single('test.emit', { value: 1 }));
      const { job: fine } = await core.service.submitJob(TENANT, single('test.emit', { value: 2 }));
      // corrupt state the completion step reads (its node's schema may be known without reading the node)
      await redis.client.hset(JOB_KEYS.node(broken.id, 'only'), 'dependants', 'not json');
      const at = new Date().toISOString();
      const base = { tenant: TENANT, nodeId: 'only', attempt: 1, workerId: 'w', at };
      await redis.client.xadd(REDIS_KEYS.reports, '*', 'r', '{"type":"nonsense"}');
      await manifest.report({
        ...base,
        jobId: broken.id,
        type: 'succeeded',
        outputs: { value: 1 },
        artifactIds: [],
      });
      await manifest.report({
        ...base,
        jobId: fine.id,
        type: 'succeeded',
        outputs: { value: 2 },
        artifactIds: [],
      });
      await waitForJob(core, TENANT, fine.id, (v) => v.job.status === 'SUCCEEDED', 15_000);
      expect(core.logger.lines.some((l) => l.msg === 'report rejected: it does not parse')).toBe(true);
      await waitFor(
        () => core.logger.lines.some((l) => l.msg === 'report dropped: applying it kept failing'),
        {
          timeoutMs: 15_000,
          what: 'the report that keeps failing to be dropped',
        },
      );
      expect(await pendingReports()).toBe(0);
    } finally {
      await manifest.stop();
      await core.close();
    }
  });

  it("a job's report that cannot be applied yet holds back only that job's later reports, not other jobs'", async () => {
    const core = await startCore(redis.url);
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    try {
      const { job: held } = await core.service.submitJob(TENANT, single('test.emit', { value: 1 }));
      const { job: other } = await core.service.submitJob(TENANT, single('test.emit', { value: 2 }));
      const at = () => new Date().toISOString();
      const base = { tenant: TENANT, nodeId: 'only', attempt: 1, workerId: 'w' };
      await manifest.report({ ...base, jobId: held.id, type: 'started', actorId: 'w/cpu0', at: at() });
      await waitForJob(core, TENANT, held.id, (v) => v.nodes[0]?.status === 'RUNNING');
      // the completion step of `held` fails (corrupt state it reads) until it is dropped after 5 tries
      await redis.client.hset(JOB_KEYS.node(held.id, 'only'), 'dependants', 'not json');
      const entry = (r: object) => ['r', JSON.stringify({ ...base, at: at(), ...r })];
      // one transaction: the three reach the consumer in one read
      await redis.client
        .multi()
        .xadd(
          REDIS_KEYS.reports,
          '*',
          ...entry({ jobId: held.id, type: 'succeeded', outputs: { value: 1 }, artifactIds: [] }),
        )
        .xadd(REDIS_KEYS.reports, '*', ...entry({ jobId: held.id, type: 'progress', progress: 0.5 }))
        .xadd(REDIS_KEYS.reports, '*', ...entry({ jobId: other.id, type: 'started', actorId: 'w/cpu1' }))
        .xadd(
          REDIS_KEYS.reports,
          '*',
          ...entry({ jobId: other.id, type: 'succeeded', outputs: { value: 2 }, artifactIds: [] }),
        )
        .exec();
      await waitForJob(core, TENANT, other.id, (v) => v.job.status === 'SUCCEEDED', 15_000);
      const msgs = () => core.logger.lines.map((l) => l.msg);
      // the other job did not wait for `held`'s retries; `held`'s progress waits behind its failing completion
      expect(msgs()).toContain('applying a report failed; it stays pending and is retried');
      expect(msgs()).not.toContain('report dropped: applying it kept failing');
      expect((await allEvents(core, held.id)).map((e) => e.type)).not.toContain('NODE_PROGRESS');
      // once the completion is dropped, the progress after it applies (the node is still running)
      await waitFor(async () => (await allEvents(core, held.id)).some((e) => e.type === 'NODE_PROGRESS'), {
        timeoutMs: 15_000,
        what: "held's progress to apply after its completion was dropped",
      });
      expect(msgs()).toContain('report dropped: applying it kept failing');
      // each failed try of the completion wrote nothing: the node still runs its attempt
      expect(await redis.client.hget(JOB_KEYS.node(held.id, 'only'), 'status')).toBe('RUNNING');
      expect(await pendingReports()).toBe(0);
    } finally {
      await manifest.stop();
      await core.close();
    }
  });

  it("an entry's reports (one attempt's, in one XADD) apply in order, each once, while a later one is retried", async () => {
    const core = await startCore(redis.url);
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    try {
      const { job } = await core.service.submitJob(TENANT, single('test.emit', { value: 1 }));
      const { job: other } = await core.service.submitJob(TENANT, single('test.emit', { value: 2 }));
      // the completion step fails (corrupt state it reads) until it is dropped after 5 tries
      await redis.client.hset(JOB_KEYS.node(job.id, 'only'), 'dependants', 'not json');
      const body = (r: object) => JSON.stringify({ ...reportFields(job.id, TENANT), ...r });
      await redis.client.xadd(
        REDIS_KEYS.reports,
        '*',
        ...reportEntryFields([
          body({ type: 'started', actorId: 'w/cpu0' }),
          body({ type: 'log', level: 'info', message: 'once' }),
          body({ type: 'succeeded', outputs: { value: 1 }, artifactIds: [] }),
          body({ type: 'progress', progress: 0.5 }),
        ]),
      );
      // an entry holding reports of two jobs breaks the contract: refused whole, nothing of it applied
      await redis.client.xadd(
        REDIS_KEYS.reports,
        '*',
        ...reportEntryFields([
          JSON.stringify({ ...reportFields(other.id, TENANT), type: 'started', actorId: 'w/cpu1' }),
          body({ type: 'log', level: 'info', message: 'never' }),
        ]),
      );
      await waitFor(async () => (await allEvents(core, job.id)).some((e) => e.type === 'NODE_PROGRESS'), {
        timeoutMs: 15_000,
        what: 'the progress after the dropped completion to apply',
      });
      // the second entry is read once the first one's retries are over: it may come a moment after the progress
      await waitFor(() => core.logger.lines.some((l) => l.msg === 'report rejected: it does not parse'), {
        what: 'the two-job entry to be read and refused',
      });
      const msgs = core.logger.lines.map((l) => l.msg);
      expect(
        msgs.filter((m) => m === 'applying a report failed; it stays pending and is retried'),
      ).toHaveLength(4);
      expect(msgs).toContain('report dropped: applying it kept failing');
      expect(msgs).toContain('report rejected: it does not parse');
      // the start and the log before the failing completion applied once, not once per retry of the entry
      const events = await allEvents(core, job.id);
      expect(events.filter((e) => e.type === 'NODE_STARTED')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'LOG').map((e) => e.message)).toEqual(['[info] once']);
      expect(await redis.client.hget(JOB_KEYS.node(other.id, 'only'), 'status')).toBe('QUEUED');
      // acknowledged together once their batch is done
      await waitFor(async () => (await pendingReports()) === 0, { what: 'both entries to be acknowledged' });
    } finally {
      await manifest.stop();
      await core.close();
    }
  });

  it('reports left pending by a dead replica are claimed (XAUTOCLAIM) and applied', async () => {
    const submitter = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    try {
      const { job } = await submitter.service.submitJob(TENANT, single('test.emit', { value: 3 }));
      const base = reportFields(job.id, TENANT);
      await manifest.report({ ...base, type: 'succeeded', outputs: { value: 3 }, artifactIds: [] });
      // a replica reads it and dies before applying and acknowledging it
      await readReportsAs(redis.client, 'dead-replica');
      expect(await pendingReports()).toBe(1);
      const survivor = await startCore(redis.url, { claimIdleMs: 1_000 });
      try {
        await waitForJob(survivor, TENANT, job.id, (v) => v.job.status === 'SUCCEEDED', 15_000);
        expect(await pendingReports()).toBe(0);
        expect(
          survivor.logger.lines.some((l) => l.msg === 'claimed reports left pending by another consumer'),
        ).toBe(true);
      } finally {
        await survivor.close();
      }
    } finally {
      await manifest.stop();
      await submitter.close();
    }
  });

  it('keeps messages within the contract bounds, so a maximal report never makes a job unreadable', async () => {
    const core = await startCore(redis.url, { startConsumer: false });
    const manifest = new TestWorker({ url: redis.url, tasks, handlers });
    await manifest.publishManifest();
    try {
      const { job } = await core.service.submitJob(TENANT, single('test.emit', { value: 1 }));
      const base = reportFields(job.id, TENANT);
      await core.scheduler.applyReport({ ...base, type: 'started', actorId: 'x' });
      await core.scheduler.applyReport({ ...base, type: 'log', level: 'error', message: 'x'.repeat(8000) });
      await core.scheduler.applyReport({
        ...base,
        type: 'failed',
        error: { code: 'TASK_FAILED', message: 'y'.repeat(4000), retryable: false },
      });
      const view = (await core.service.job(TENANT, job.id))!;
      expect(view.job.status).toBe('FAILED');
      expect(view.job.error!.message.length).toBeLessThanOrEqual(4000);
      const events = await allEvents(core, job.id);
      expect(events.find((e) => e.type === 'LOG')!.message!.length).toBe(8000);
    } finally {
      await manifest.stop();
      await core.close();
    }
  });
});
