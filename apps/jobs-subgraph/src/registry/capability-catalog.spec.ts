import type { ActorInfo, ActorState, ResourceClass } from '#libs/contracts';
import { CapabilityCatalog } from './capability-catalog.js';
import { imageResize, modelEvaluate, modelTrain, taskManifest, workerManifest } from './test/manifests.js';

describe('CapabilityCatalog', () => {
  const catalog = new CapabilityCatalog([
    workerManifest('w1', [imageResize('1.0.0'), imageResize('1.4.2'), modelTrain('1.0.0')]),
    workerManifest('w2', [imageResize('2.0.0'), imageResize('1.4.2'), modelEvaluate('1.0.0')]),
    workerManifest('w3', [imageResize('2.1.0-beta.1')]),
  ]);

  it.each([1, 2])(
    'resolves the newest live version satisfying a range (asked %i times: remembered answers)',
    () => {
      expect(catalog.resolve('image.resize')?.version).toBe('2.0.0');
      expect(catalog.resolve('image.resize', '^1.0.0')?.version).toBe('1.4.2');
      expect(catalog.resolve('image.resize', '~1.0.0')?.version).toBe('1.0.0');
      expect(catalog.resolve('image.resize', '>=2.1.0-beta.0')?.version).toBe('2.1.0-beta.1');
      expect(catalog.resolve('image.resize', '^3')).toBeNull();
      expect(catalog.resolve('image.resize', 'not a range')).toBeNull();
      expect(catalog.resolve('image.crop')).toBeNull();
    },
  );

  it('lists versions newest first and knows which tasks exist', () => {
    expect(catalog.versions('image.resize')).toEqual(['2.1.0-beta.1', '2.0.0', '1.4.2', '1.0.0']);
    expect(catalog.has('model.train')).toBe(true);
    expect(catalog.has('model.predict')).toBe(false);
    expect(catalog.versions('model.predict')).toEqual([]);
  });

  it('describes capabilities from the newest version, counting offering workers', () => {
    const caps = catalog.capabilities();
    expect(caps.map((c) => c.name)).toEqual(['image.resize', 'model.evaluate', 'model.train']);
    const resize = caps[0]!;
    expect(resize.workers).toBe(3);
    expect(resize.versions[0]).toBe('2.1.0-beta.1');
    expect(resize.inputSchema).toEqual(imageResize().inputSchema);
    expect(resize.resources).toEqual({ gpu: 0, vramGb: 0, cpu: 1 });
    expect(caps[2]).toMatchObject({ name: 'model.train', workers: 1, versions: ['1.0.0'] });
  });

  it('leaves out workers that are not ready or speak another protocol major', () => {
    const c = new CapabilityCatalog([
      workerManifest('draining', [modelTrain()], { ready: false }),
      workerManifest('future', [modelEvaluate()], { protocolVersion: '2.0' }),
    ]);
    expect(c.has('model.train')).toBe(false);
    expect(c.has('model.evaluate')).toBe(false);
    expect(c.problems).toEqual([expect.objectContaining({ workerId: 'future' })]);
  });

  it('refuses a task whose schemaHash lies, and a version whose schemas conflict with another worker', () => {
    const lying = { ...modelTrain('1.0.0'), schemaHash: 'f'.repeat(64) };
    const looser = { type: 'object' };
    const conflicting = taskManifest({ ...imageResize('1.0.0'), inputSchema: looser });
    const c = new CapabilityCatalog([
      workerManifest('w1', [lying, imageResize('1.0.0')]),
      workerManifest('w2', [conflicting]),
    ]);
    expect(c.has('model.train')).toBe(false);
    expect(c.resolve('image.resize')?.inputSchema).toEqual(imageResize().inputSchema);
    expect(c.problems).toEqual([
      expect.objectContaining({
        workerId: 'w1',
        task: 'model.train',
        reason: expect.stringMatching(/schemaHash/),
      }),
      expect.objectContaining({
        workerId: 'w2',
        task: 'image.resize',
        reason: expect.stringMatching(/schemas differ/),
      }),
    ]);
    expect(c.capabilities()[0]!.workers).toBe(1);
  });

  it('plans like another catalog with the same task versions and manifests, whichever workers offer them', () => {
    const of = (...workers: Parameters<typeof workerManifest>[]) =>
      new CapabilityCatalog(workers.map((w) => workerManifest(...w)));
    const base = of(['w1', [imageResize('1.0.0'), modelTrain()]]);
    expect(base.plansLike(of(['w2', [modelTrain()]], ['w1', [imageResize('1.0.0')]]))).toBe(true);
    expect(base.plansLike(of(['w1', [imageResize('1.0.0'), modelTrain()]], ['w3', [modelTrain()]]))).toBe(
      true,
    );
    // a version more or less, another task, or the same version with other limits plans otherwise
    expect(base.plansLike(of(['w1', [imageResize('1.0.0'), imageResize('1.1.0'), modelTrain()]]))).toBe(
      false,
    );
    expect(base.plansLike(of(['w1', [imageResize('1.0.0')]]))).toBe(false);
    expect(base.plansLike(of(['w1', [imageResize('1.0.0'), { ...modelTrain(), timeoutMs: 1 }]]))).toBe(false);
    // a worker not ready offers nothing
    expect(
      base.plansLike(
        of(['w1', [imageResize('1.0.0'), modelTrain()]], ['w9', [modelEvaluate()], { ready: false }]),
      ),
    ).toBe(true);
  });
  it('says per offered task whether every actor of its class on the workers offering it is busy', () => {
    const actors = (id: string, rc: ResourceClass, ...states: ActorState[]): ActorInfo[] =>
      states.map((state, i) => ({
        id: `${id}/${rc}${i}`,
        device: `${rc} ${i}`,
        resourceClass: rc,
        state,
        restarts: 0,
      }));
    const c = new CapabilityCatalog([
      // gpu tasks: model.train's gpu actors are all taken (w1's idle cpu actor does not run it); model.evaluate
      // also runs on w2, whose gpu actor is free
      workerManifest('w1', [modelTrain(), modelEvaluate(), imageResize()], {
        actors: [...actors('w1', 'gpu', 'BUSY', 'RESTARTING'), ...actors('w1', 'cpu', 'IDLE')],
      }),
      workerManifest('w2', [modelEvaluate('1.1.0')], { actors: actors('w2', 'gpu', 'IDLE') }),
      // a worker that is not ready (a quarantined actor) offers nothing, its idle actors included
      workerManifest('w3', [modelTrain()], {
        ready: false,
        actors: actors('w3', 'gpu', 'IDLE', 'QUARANTINED'),
      }),
      // cpu-only worker: its actors are all restarting, none busy (no backlog: nothing it waits for runs)
      workerManifest('w4', [imageResize('2.0.0')], { actors: actors('w4', 'cpu', 'RESTARTING') }),
    ]);
    expect(Object.fromEntries(c.loads())).toEqual({
      'model.train': { backlog: true },
      'model.evaluate': { backlog: false },
      'image.resize': { backlog: false },
    });
  });
});
