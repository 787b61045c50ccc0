import type { JsonObject } from '#libs/contracts';
import { redisPerSuite, waitFor } from '#libs/testing';
import { startCore } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { FAIR_STAGE_PREFIX } from './fair-queue.js';
import { single, waitForJob } from '../../test/scenario.js';

const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * docs/decisions/0005-fair-share.md, "Occupancy": a tenant whose attempts run long must not take every actor of the
 * class from a tenant whose attempts are short. Round robin over attempts gives the long tenant every actor that
 * frees (each actor that ends a short attempt takes the next queued one, half of them long, and keeps it).
 */
describe('fair share by occupancy (real redis-server, in-test worker)', () => {
  const redis = redisPerSuite();

  it('a tenant with long attempts holds about half the actors; the short tenant keeps the rest and finishes', async () => {
    const ACTORS = 6;
    const SHORT = 60;
    // the window as the app sets it: at least the class's actors (max(DISPATCH_WINDOW, live actors))
    const core = await startCore(redis.url, { dispatchWindow: ACTORS });
    // the long tenant's attempts run until the test lets them end: "long" without a long test
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const running = { hog: 0, quick: 0 };
    // the long tenant's actors as each short attempt starts, while the short tenant still has a backlog waiting
    // (once its backlog is all out, the long tenant is alone in the ring and takes the actors that free: no one waits)
    let quickStarted = 0;
    let hogMax = 0;
    const runner = new TestWorker({
      url: redis.url,
      tasks,
      concurrency: ACTORS,
      actorStates: Array.from({ length: ACTORS }, () => 'IDLE' as const),
      handlers: {
        'test.emit': async (p: { tenant: string; inputs: JsonObject }) => {
          const who = p.tenant === 'hog' ? 'hog' : 'quick';
          running[who]++;
          if (who === 'quick' && ++quickStarted <= SHORT - 2 * ACTORS) hogMax = Math.max(hogMax, running.hog);
          try {
            if (who === 'hog') await released;
            else await sleep(20);
          } finally {
            running[who]--;
          }
          return { value: p.inputs.value as number };
        },
      },
    });
    try {
      await runner.publishManifest(); // the task is offered (submit checks it); no attempt is leased yet
      // both tenants submit side by side before any worker runs: the first window goes half to each
      const hogIds: string[] = [];
      const quickIds: string[] = [];
      for (let i = 0; i < SHORT; i++) {
        if (i < 3 * ACTORS)
          hogIds.push((await core.service.submitJob('hog', single('test.emit', { value: i }))).job.id);
        quickIds.push((await core.service.submitJob('quick', single('test.emit', { value: i }))).job.id);
      }
      await runner.start();

      // every short job finishes while the long ones still hold their actors (generous deadline: a loaded machine)
      const done = new Set<string>();
      const deadline = Date.now() + 20_000;
      while (done.size < SHORT && Date.now() < deadline) {
        for (const id of quickIds) {
          if (done.has(id)) continue;
          const view = await core.service.job('quick', id);
          if (view?.job.status === 'SUCCEEDED') done.add(id);
        }
        await sleep(100);
      }
      const quickDone = done.size;
      const hogHeld = hogMax;
      console.info(
        `occupancy: ${quickDone} of the short tenant's ${SHORT} jobs finished while the long tenant ran; ` +
          `the long tenant held at most ${hogHeld} of ${ACTORS} actors`,
      );
      expect(quickDone).toBe(SHORT);
      // max-min over occupancy, each tenant up to its share: half the actors each while both wait
      expect(hogHeld).toBeLessThanOrEqual(Math.ceil(ACTORS / 2));

      release();
      for (const id of hogIds) await waitForJob(core, 'hog', id, (v) => v.job.status === 'SUCCEEDED', 30_000);
      // every end took its attempt out of the occupancy again: nothing left behind
      await waitFor(
        async () => (await core.redis.zcount(`${FAIR_STAGE_PREFIX}cpu:occupancy`, 0, '+inf')) === 0,
        {
          timeoutMs: 10_000,
        },
      );
      expect(await core.enqueuer.stageDepth()).toMatchObject({
        cpu: { held: 0, delayed: 0, tenants: 0, dispatched: 0 },
      });
    } finally {
      release();
      await runner.stop();
      await core.close();
    }
  }, 90_000);

  it("the leader's pass drops occupancy an end left behind, and says so", async () => {
    const healedMetric: number[] = [];
    const core = await startCore(redis.url, {
      dispatchWindow: 2,
      dispatchMetrics: {
        dispatched: () => {},
        dispatchFailed: () => {},
        occupancyHealed: (_rc, n) => healedMetric.push(n),
      },
    });
    const runner = new TestWorker({
      url: redis.url,
      tasks,
      handlers: { 'test.emit': async () => ({ value: 1 }) },
    });
    try {
      await runner.start();
      const { job } = await core.service.submitJob('acme', single('test.emit', { value: 1 }));
      await waitForJob(core, 'acme', job.id, (v) => v.job.status === 'SUCCEEDED');
      const key = `${FAIR_STAGE_PREFIX}cpu:occupancy`;
      await waitFor(async () => (await core.redis.zcount(key, 0, '+inf')) === 0, { timeoutMs: 5_000 });
      // an end that did not remove its attempt (an older release's step), and an id that names no attempt
      await core.redis.zadd(key, 7, `${job.id}.only.1`, 7, 'not-an-attempt');
      expect((await core.enqueuer.maintain()).healed).toBe(2);
      expect(await core.redis.zcount(key, 0, '+inf')).toBe(0);
      expect(core.logger.lines.filter((l) => l.level === 'warn' && l.msg.includes('occupancy'))).toHaveLength(
        1,
      );
      expect(healedMetric).toEqual([2]);
      // nothing more to heal: a second pass is quiet
      expect((await core.enqueuer.maintain()).healed).toBe(0);
    } finally {
      await runner.stop();
      await core.close();
    }
  });
});
