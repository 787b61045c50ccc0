import { Redis } from 'ioredis';
import { attemptJobId, type JsonObject } from '#libs/contracts';
import { redisPerSuite, waitFor } from '#libs/testing';
import { startCore } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { single, waitForJob } from '../../test/scenario.js';
import { BullmqNodeQueue } from './bullmq-enqueuer.js';
import { DEFAULT_LOST_DISPATCH_MS } from './fair-dispatcher.js';
import { FAIR_KEYS, FairQueue } from './fair-queue.js';
import { DEFAULT_ENQUEUE_GRACE_MS } from './reconciler.js';

const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = { 'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }) };

const ACTORS = 2;
const WINDOW = 8;

/**
 * A core with a window of 8 and the take-back metric recorded, and a worker of 2 actors on which the tenant "hog"'s
 * attempts run until the test ends each one ("long" without a long test); every tenant's starts in order.
 */
async function hogAndNewcomer(redisUrl: string) {
  const takenBackMetric: number[] = [];
  const core = await startCore(redisUrl, {
    dispatchWindow: WINDOW,
    dispatchMetrics: {
      dispatched: () => {},
      dispatchFailed: () => {},
      takenBack: (_rc, n) => takenBackMetric.push(n),
    },
  });
  const ends = new Map<number, () => void>();
  const started: string[] = [];
  const runner = new TestWorker({
    url: redisUrl,
    tasks,
    concurrency: ACTORS,
    actorStates: Array.from({ length: ACTORS }, () => 'IDLE' as const),
    handlers: {
      'test.emit': async (p: { tenant: string; inputs: JsonObject }) => {
        const value = p.inputs.value as number;
        started.push(`${p.tenant}/${value}`);
        if (p.tenant === 'hog') await new Promise<void>((r) => ends.set(value, r));
        return { value };
      },
    },
  });
  return { core, runner, ends, started, takenBackMetric };
}

/**
 * docs/decisions/0005-fair-share.md, "Occupancy", the newcomer behind a full window: a tenant alone fills every
 * actor and the window with long attempts (work-conserving); another tenant that then submits is under its share,
 * and its attempt must be the next one an actor takes, not wait behind the long tenant's attempts already handed
 * to the node queue (first in, first out: the window, then some).
 */
describe('fair share: taking attempts back for a tenant under its share (real redis-server, BullMQ)', () => {
  const redis = redisPerSuite();

  it("a newcomer's attempt is the next an actor takes, not the long tenant's already dispatched ones", async () => {
    const HOG = 12;
    const { core, runner, ends, started, takenBackMetric } = await hogAndNewcomer(redis.url);
    try {
      await runner.publishManifest();
      await runner.start();
      const hogIds: string[] = [];
      for (let i = 0; i < HOG; i++)
        hogIds.push((await core.service.submitJob('hog', single('test.emit', { value: i }))).job.id);
      // both actors run hog attempts, the window holds 8 more, 2 wait in the stage
      await waitFor(async () => ends.size === ACTORS, { timeoutMs: 20_000 });
      await waitFor(async () => (await core.redis.zcard(FAIR_KEYS.dispatched('cpu'))) === WINDOW, {
        timeoutMs: 20_000,
      });
      // the leader's pass records the live actors (the share is counted in actors) and finds nothing to take
      // back: the hog is alone
      await core.enqueuer.maintain({ cpu: ACTORS });
      expect(takenBackMetric).toEqual([]);

      const { job: quick } = await core.service.submitJob('quick', single('test.emit', { value: 100 }));
      // one hog attempt ends: the actor it frees takes the newcomer's attempt (before: the hog's next, and 8 more)
      const first = [...ends.keys()][0]!;
      ends.get(first)!();
      await waitFor(async () => started.length > ACTORS, { timeoutMs: 20_000 });
      expect(started[ACTORS]).toBe('quick/100');
      await waitForJob(core, 'quick', quick.id, (v) => v.job.status === 'SUCCEEDED', 20_000);
      // the hog's attempts beyond its share (it ran 2 of 2 actors; with 2 tenants waiting its share is 1) had come
      // back out of the node queue, every one of the window; the newcomer's went out first, the hog's behind it
      expect(takenBackMetric).toEqual([WINDOW]);
      expect(
        core.logger.lines.filter((l) => l.level === 'info' && l.msg.startsWith('dispatch: took attempts')),
      ).toHaveLength(1);

      // the actor that ran it takes the hog's next in the hog's own order: the attempts taken back went back to
      // their places in its ready set (before 10 and 11, which had waited there)
      await waitFor(async () => started.length > ACTORS + 1, { timeoutMs: 20_000 });
      expect(started[ACTORS + 1]).toBe('hog/2');

      // every hog attempt runs, each once (those taken back included), and the stage is left empty
      const ended = new Set<number>();
      await waitFor(
        async () => {
          for (const [value, end] of ends) {
            if (ended.has(value)) continue;
            ended.add(value);
            end();
          }
          return ended.size === HOG;
        },
        { timeoutMs: 30_000 },
      );
      for (const id of hogIds) await waitForJob(core, 'hog', id, (v) => v.job.status === 'SUCCEEDED', 20_000);
      const hogRuns = runner.ran.filter((p) => p.tenant === 'hog').map((p) => p.jobId);
      expect(hogRuns.sort()).toEqual([...hogIds].sort());
      await waitFor(async () => (await core.redis.zcard(FAIR_KEYS.occupancy('cpu'))) === 0, {
        timeoutMs: 10_000,
      });
      expect(await core.enqueuer.stageDepth()).toMatchObject({
        cpu: { held: 0, delayed: 0, tenants: 0, dispatched: 0 },
      });
    } finally {
      for (const end of ends.values()) end();
      await runner.stop();
      await core.close();
    }
  }, 90_000);

  it("a newcomer dispatched behind a tenant's attempts beyond its share (the submit's fast path): the leader's pass takes them back", async () => {
    const { core, runner, ends, started, takenBackMetric } = await hogAndNewcomer(redis.url);
    try {
      await runner.publishManifest();
      await runner.start();
      await core.enqueuer.maintain({ cpu: ACTORS });
      // the hog's 9: 2 running, 7 in the window, none waiting in the stage (the ring is empty)
      for (let i = 0; i < ACTORS + WINDOW - 1; i++)
        await core.service.submitJob('hog', single('test.emit', { value: i }));
      await waitFor(async () => ends.size === ACTORS, { timeoutMs: 20_000 });
      await waitFor(
        async () => (await core.redis.zcard(FAIR_KEYS.dispatched('cpu'))) === WINDOW - ACTORS + 1,
        { timeoutMs: 20_000 },
      );
      // the newcomer's submit finds the ring empty and the window with room: its attempt goes out at once, last
      const { job: quick } = await core.service.submitJob('quick', single('test.emit', { value: 100 }));
      expect(
        await core.redis.zscore(FAIR_KEYS.dispatched('cpu'), attemptJobId(quick.id, 'only', 1)),
      ).not.toBeNull();
      expect(takenBackMetric).toEqual([]);
      // the leader's pass finds it behind the hog's 7 beyond its share and takes those back
      await core.enqueuer.maintain({ cpu: ACTORS });
      expect(takenBackMetric).toEqual([WINDOW - 1]);
      ends.get([...ends.keys()][0]!)!();
      await waitFor(async () => started.length > ACTORS, { timeoutMs: 20_000 });
      expect(started[ACTORS]).toBe('quick/100');
      await waitForJob(core, 'quick', quick.id, (v) => v.job.status === 'SUCCEEDED', 20_000);
    } finally {
      for (const end of ends.values()) end();
      await runner.stop();
      await core.close();
    }
  }, 90_000);

  it('a replica that dies between the queue removal and the take-back step loses nothing: the attempt is re-added and runs once', async () => {
    let skewMs = 0;
    const core = await startCore(redis.url, { dispatchWindow: 2, now: () => Date.now() + skewMs });
    const manifest = new TestWorker({ url: redis.url, tasks, concurrency: 1, handlers });
    await manifest.publishManifest();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const dyingQueue = new BullmqNodeQueue(connection);
    let runner: TestWorker | undefined;
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push((await core.service.submitJob('hog', single('test.emit', { value: i }))).job.id);
      const [x] = ids;
      const id = attemptJobId(x!, 'only', 1);
      // another replica took x's attempt out of the node queue and died before its take-back step
      const payload = await dyingQueue.takeBack('cpu', id);
      expect(payload?.jobId).toBe(x);
      expect(await core.enqueuer.inspect('cpu', x!, 'only', 1)).toMatchObject({
        state: 'missing',
        held: false,
      });
      // a pass right after it cannot tell a dead replica from one whose step is under way
      expect((await core.reconciler.reconcileOnce()).actions).toBe(0);
      // once the grace is over the reconciler adds it again under its id (it still holds its slot)
      skewMs = Math.max(DEFAULT_ENQUEUE_GRACE_MS, DEFAULT_LOST_DISPATCH_MS) + 1_000;
      expect((await core.reconciler.reconcileOnce()).actions).toBe(1);
      expect(core.logger.lines.some((l) => l.msg === 'reconciler: reenqueued')).toBe(true);
      expect(await core.enqueuer.state('cpu', x!, 'only', 1)).toBe('waiting');
      expect((await core.reconciler.reconcileOnce()).actions).toBe(0);

      runner = await new TestWorker({ url: redis.url, tasks, concurrency: 2, handlers }).start();
      for (const j of ids) await waitForJob(core, 'hog', j, (v) => v.job.status === 'SUCCEEDED');
      expect(runner.ran.map((p) => p.jobId).sort()).toEqual([...ids].sort());
      await waitFor(async () => (await core.redis.zcard(FAIR_KEYS.dispatched('cpu'))) === 0, {
        timeoutMs: 10_000,
      });
    } finally {
      await runner?.stop();
      await manifest.stop();
      await dyingQueue.close();
      connection.disconnect();
      await core.close();
    }
  });

  it('the take-back step holds again only what is still dispatched and waited for: a cancel in between wins', async () => {
    const core = await startCore(redis.url, { dispatchWindow: 2 });
    const manifest = new TestWorker({ url: redis.url, tasks, concurrency: 1, handlers });
    await manifest.publishManifest();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new BullmqNodeQueue(connection);
    const fair = new FairQueue(connection, 2);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 2; i++)
        ids.push(
          (await core.service.submitJob('hog', single('test.emit', { value: i }, { priority: 5 * i }))).job
            .id,
        );
      const [x, y] = ids.map((j) => attemptJobId(j, 'only', 1));
      const px = await queue.takeBack('cpu', x!);
      const py = await queue.takeBack('cpu', y!);
      // x's job is cancelled between its removal and the take-back step (the cancel takes it out of the stage)
      await core.service.cancelJob('hog', ids[0]!);
      const step = await fair.takeBack('cpu', [
        { id: x!, tenant: 'hog', payload: JSON.stringify(px) },
        { id: y!, tenant: 'hog', payload: JSON.stringify(py) },
      ]);
      // y went back to its tenant's ready set and, the window having room, straight out again
      expect(step.takenBack).toBe(1);
      expect(step.dispatched.map((d) => d.id)).toEqual([y]);
      expect(step.dispatched[0]!.entry).toMatchObject({ tenant: 'hog', priority: 5, payload: py });
      expect(await core.redis.zrange(FAIR_KEYS.occupancy('cpu'), '0', '-1')).toEqual([y]);
      expect(await core.redis.hlen(FAIR_KEYS.held('cpu'))).toBe(0);
    } finally {
      await manifest.stop();
      await queue.close();
      connection.disconnect();
      await core.close();
    }
  });
});
