import { jest } from '@jest/globals';
import { REDIS_KEYS, type JsonObject, type NodeReport } from '#libs/contracts';
import { waitFor, redisPerSuite } from '#libs/testing';
import { startCore } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { allEvents, ONE_NODE_SUCCESS_EVENTS, single, waitForJob } from '../../test/scenario.js';
import { EventLog } from '../events/event-log.js';
import { FAIR_KEYS } from './fair-queue.js';
import { JOB_KEYS } from './keys.js';
import { foldableStarts } from './report-folding.js';

const TENANT = 'acme';
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = { 'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }) };

const at = () => new Date().toISOString();
const base = (jobId: string) => ({
  jobId,
  tenant: TENANT,
  nodeId: 'only',
  attempt: 1,
  workerId: 'w1',
  at: at(),
});
const started = (jobId: string): NodeReport => ({ ...base(jobId), type: 'started', actorId: 'w1/cpu0' });
const succeeded = (jobId: string, value: number): NodeReport => ({
  ...base(jobId),
  type: 'succeeded',
  outputs: { value },
  artifactIds: [],
});

describe('foldableStarts', () => {
  it('pairs a start with its completion only when no report of the same job lies between them', () => {
    const progress: NodeReport = { ...base('b'), type: 'progress', progress: 0.5 };
    const otherAttempt: NodeReport = { ...succeeded('c', 1), attempt: 2 };
    const folds = foldableStarts([
      started('a'), // 0: folded into 3 (only other jobs' reports between)
      started('b'), // 1: not folded, a progress report of its job follows
      started('c'), // 2: not folded, the completion is of another attempt
      succeeded('a', 1), // 3
      progress, // 4
      succeeded('b', 1), // 5
      otherAttempt, // 6
      null, // 7: did not parse
    ]);
    expect([...folds]).toEqual([[0, 3]]);
  });
});

describe('a start and its completion read together (real redis-server)', () => {
  const redis = redisPerSuite();

  it('are one step with the same writes, events and freed dispatch slot as two', async () => {
    // window 1: the second job's attempt waits in the fair stage until the first one's slot is freed
    const core = await startCore(redis.url, { startConsumer: false, dispatchWindow: 1 });
    const worker = new TestWorker({ url: redis.url, tasks, handlers });
    await worker.publishManifest();
    try {
      const { job: first } = await core.service.submitJob(TENANT, single('test.emit', { value: 1 }));
      const { job: second } = await core.service.submitJob(TENANT, single('test.emit', { value: 2 }));
      expect(await core.enqueuer.state('cpu', second.id, 'only', 1)).toBe('waiting');
      expect((await core.enqueuer.inspect('cpu', second.id, 'only', 1)).held).toBe(true);
      await worker.report(started(first.id));
      await worker.report(succeeded(first.id, 1));
      const separately = jest.spyOn(core.scheduler, 'applyReport');
      const together = jest.spyOn(core.scheduler, 'applyStartedAndSucceeded');
      core.consumer.start();

      const done = await waitForJob(core, TENANT, first.id, (v) => v.job.status === 'SUCCEEDED');
      expect(done.nodes[0]).toMatchObject({ status: 'SUCCEEDED', workerId: 'w1', outputs: { value: 1 } });
      expect(done.nodes[0]!.startedAt).toBeTruthy();
      expect(done.job.startedAt).toBeTruthy();
      expect((await allEvents(core, first.id)).map((e) => e.type)).toEqual(ONE_NODE_SUCCESS_EVENTS);
      // the status indexes moved QUEUED -> SUCCEEDED; the tenant's open nodes count only the second job
      const byStatus = (s: string) => redis.client.zrange(JOB_KEYS.tenantJobsByStatus(TENANT, s), '0', '-1');
      expect(await byStatus('SUCCEEDED')).toEqual([first.id]);
      expect(await byStatus('RUNNING')).toEqual([]);
      expect(await byStatus('QUEUED')).toEqual([second.id]);
      expect(await redis.client.hget(JOB_KEYS.tenantUsage(TENANT), 'openNodes')).toBe('1');
      // the feed: one entry per step, the folded step's JOB_STARTED and JOB_SUCCEEDED in one, read in order
      const feed = await redis.client.xrange(JOB_KEYS.feed(TENANT), '-', '+');
      const firstJobs = feed.filter(([, fields]) => fields[1]!.includes(first.id));
      expect(firstJobs.map(([, fields]) => fields.filter((_, i) => i % 2 === 0))).toEqual([
        ['e'],
        ['e', 'e'],
      ]);
      const read = await new EventLog(redis.client).feedAfter(TENANT, firstJobs[0]![0], 10);
      expect(read.filter((r) => r.event.jobId === first.id).map((r) => [r.position, r.event.type])).toEqual([
        [firstJobs[1]![0], 'JOB_STARTED'],
        [firstJobs[1]![0], 'JOB_SUCCEEDED'],
      ]);
      // the first attempt's slot was freed in the step and the waiting attempt was handed to the node queue
      await waitFor(async () => !(await core.enqueuer.inspect('cpu', second.id, 'only', 1)).held);
      expect(await redis.client.zrange(FAIR_KEYS.dispatched('cpu'), '0', '-1')).toEqual([
        `${second.id}.only.1`,
      ]);
      expect(together).toHaveBeenCalledTimes(1);
      expect(separately).not.toHaveBeenCalled();
      const pending = (await redis.client.xpending(REDIS_KEYS.reports, REDIS_KEYS.reportsGroup)) as [number];
      expect(pending[0]).toBe(0);
    } finally {
      await worker.stop();
      await core.close();
    }
  });
});
