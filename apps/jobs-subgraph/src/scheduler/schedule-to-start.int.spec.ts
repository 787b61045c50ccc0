import type { ActorState, JsonObject, ResourceClass } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { redisPerSuite } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { single } from '../../test/scenario.js';

const TENANT = 'acme';
const MINUTE = 60_000;
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);
const handlers = { 'test.emit': async (p: { inputs: JsonObject }) => ({ value: p.inputs.value as number }) };

// Schedule-to-start counts only while a worker could have taken the attempt: not while every live actor able to
// run its task is BUSY (a backlog, bounded by the job deadline). The workers here only publish manifests, so the
// attempt stays in the node queue; the reconciler's clock is moved by hand.
describe('schedule-to-start behind busy actors (real redis-server)', () => {
  const redis = redisPerSuite();
  let core: CoreHarness;
  let manifest: TestWorker;
  let offset: number;
  let jobId: string;

  const setup = async (
    states: ActorState[],
    opts: { tasks?: typeof tasks; classActorStates?: Partial<Record<ResourceClass, ActorState[]>> } = {},
  ) => {
    offset = 0;
    manifest = new TestWorker({
      url: redis.url,
      tasks: opts.tasks ?? tasks,
      handlers,
      actorStates: states,
      classActorStates: opts.classActorStates,
    });
    await manifest.publishManifest();
    core = await startCore(redis.url, {
      startConsumer: false,
      scheduleToStartMs: 5 * MINUTE,
      jobDeadlineMs: 24 * 60 * MINUTE,
      now: () => Date.now() + offset,
    });
    jobId = (await core.service.submitJob(TENANT, single('test.emit', { value: 1 }))).job.id;
    // dispatched to the node queue at once (the window is free): its clock is not held by fair share
    expect(await core.enqueuer.inspect('cpu', jobId, 'only', 1)).toMatchObject({
      state: 'waiting',
      held: false,
    });
  };
  /** A leader pass at `minutes` after the submit: its action count. */
  const passAt = async (minutes: number) => {
    offset = minutes * MINUTE;
    return (await core.reconciler.reconcileOnce()).actions;
  };
  const actorsNow = async (states: ActorState[]) => {
    manifest.actorStates = states;
    await manifest.publishManifest();
  };
  const node = async () => (await core.service.job(TENANT, jobId))!.nodes[0]!;

  afterEach(async () => {
    await manifest?.stop();
    await core?.close();
  });

  it('an attempt behind busy actors does not fail UNSCHEDULABLE, however long they stay busy', async () => {
    await setup(['BUSY', 'BUSY']);
    for (const minutes of [0, 4, 8, 12, 30]) expect(await passAt(minutes)).toBe(0);
    expect(await node()).toMatchObject({ status: 'QUEUED', attempt: 1 });
  });

  it('busy actors, then one IDLE: only the time since the last pass that saw the backlog counts', async () => {
    await setup(['BUSY', 'BUSY']);
    expect(await passAt(0)).toBe(0);
    expect(await passAt(20)).toBe(0);
    await actorsNow(['IDLE', 'BUSY']);
    // 20 min since the dispatch, 1 then 4.9 since the backlog was last seen
    expect(await passAt(21)).toBe(0);
    expect(await passAt(24.9)).toBe(0);
    expect(await node()).toMatchObject({ status: 'QUEUED' });
    expect(await passAt(25.5)).toBe(1);
    const failed = await node();
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatchObject({ code: 'UNSCHEDULABLE', retryable: false });
    expect(failed.error!.message).toMatch(/no worker started test\.emit/);
  });

  it('an IDLE capable actor that takes nothing for longer than schedule-to-start: UNSCHEDULABLE', async () => {
    await setup(['IDLE', 'BUSY']);
    expect(await passAt(0)).toBe(0);
    expect(await passAt(4.9)).toBe(0);
    expect(await passAt(5.5)).toBe(1);
    expect((await node()).error).toMatchObject({ code: 'UNSCHEDULABLE', retryable: false });
    expect(core.logger.lines.some((l) => l.msg === 'reconciler: unschedulable')).toBe(true);
  });

  it('actors none of which is busy (all RESTARTING) do not stop the clock; BUSY and RESTARTING do', async () => {
    await setup(['RESTARTING', 'RESTARTING']);
    expect(await passAt(0)).toBe(0);
    expect(await passAt(5.5)).toBe(1);
    expect((await node()).error).toMatchObject({ code: 'UNSCHEDULABLE' });

    jobId = (await core.service.submitJob(TENANT, single('test.emit', { value: 2 }))).job.id;
    await actorsNow(['RESTARTING', 'BUSY']);
    expect(await passAt(6)).toBe(0);
    expect(await passAt(20)).toBe(0);
    expect(await node()).toMatchObject({ status: 'QUEUED' });
  });

  it('a newly elected leader counts from its own first pass (a backlog may have ended just before)', async () => {
    await setup(['BUSY']);
    expect(await passAt(0)).toBe(0);
    await actorsNow(['IDLE']);
    // elected again after passes it did not run: it does not know the backlog lasted only until minute 0
    core.reconciler.leaderElected();
    expect(await passAt(10)).toBe(0);
    expect(await passAt(14.9)).toBe(0);
    expect(await passAt(15.5)).toBe(1);
    expect((await node()).error).toMatchObject({ code: 'UNSCHEDULABLE' });
  });

  it('a quarantined actor beside busy ones of its class: still offered, and the backlog holds', async () => {
    // one bad GPU of eight: the worker reports not ready (DESIGN) but accepts work, its other actors keep serving
    await setup(['QUARANTINED', 'BUSY', 'BUSY']);
    expect(manifest.manifest()).toMatchObject({ ready: false, accepting: true });
    for (const minutes of [0, 4, 8, 12, 30]) expect(await passAt(minutes)).toBe(0);
    expect(await node()).toMatchObject({ status: 'QUEUED', attempt: 1 });
    // new work for the task is still accepted
    await core.service.submitJob(TENANT, single('test.emit', { value: 2 }));
  });

  it("a class whose actors are all quarantined is not offered, though the worker's other class serves", async () => {
    const all = Object.values(TEST_TASKS); // the worker also offers test.gpu, on a gpu actor that is busy
    await setup(['IDLE'], { tasks: all, classActorStates: { gpu: ['BUSY'] } });
    expect(await passAt(0)).toBe(0);
    manifest.classActorStates.cpu = ['QUARANTINED', 'QUARANTINED'];
    await manifest.publishManifest();
    // from queuedAt: nothing in the cluster can run it, busy gpu actors do not make a backlog for it
    expect(await passAt(4.9)).toBe(0);
    expect(await passAt(5.5)).toBe(1);
    expect((await node()).error!.message).toMatch(/no live worker offers test\.emit/);
    // and a new submit of it is refused at once, while the gpu task is still accepted
    const refused = await core.service
      .submitJob(TENANT, single('test.emit', { value: 3 }))
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DomainError);
    expect(JSON.stringify((refused as DomainError).extensions)).toMatch(/UNKNOWN_TASK/);
    await core.service.submitJob(TENANT, single('test.gpu', { value: 4 }));
  });

  it('with no live worker offering the task, the clock runs from queuedAt as before', async () => {
    await setup(['BUSY']);
    expect(await passAt(0)).toBe(0);
    await manifest.stop();
    expect(await passAt(5.5)).toBe(1);
    expect((await node()).error!.message).toMatch(/no live worker offers test\.emit/);
  });
});
