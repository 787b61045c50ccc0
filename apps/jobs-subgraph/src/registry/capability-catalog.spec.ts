import type { ActorInfo, ActorState, ResourceClass } from '#libs/contracts';
import { CapabilityCatalog } from './capability-catalog.js';
import { imageResize, modelEvaluate, modelTrain, taskManifest, workerManifest } from './test/manifests.js';

const actors = (id: string, rc: ResourceClass, ...states: ActorState[]): ActorInfo[] =>
  states.map((state, i) => ({
    id: `${id}/${rc}${i}`,
    device: `${rc} ${i}`,
    resourceClass: rc,
    state,
    restarts: 0,
  }));

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

  it('leaves out workers that take no work (draining) or speak another protocol major', () => {
    const c = new CapabilityCatalog([
      workerManifest('draining', [modelTrain()], { ready: false, accepting: false }),
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
    // a worker that takes no work offers nothing
    expect(
      base.plansLike(
        of(
          ['w1', [imageResize('1.0.0'), modelTrain()]],
          ['w9', [modelEvaluate()], { ready: false, accepting: false }],
        ),
      ),
    ).toBe(true);
  });
  it('says per offered task whether every actor of its class on the workers offering it is busy', () => {
    const c = new CapabilityCatalog([
      // gpu tasks: model.train's gpu actors are all taken (w1's idle cpu actor does not run it); model.evaluate
      // also runs on w2, whose gpu actor is free
      workerManifest('w1', [modelTrain(), modelEvaluate(), imageResize()], {
        actors: [...actors('w1', 'gpu', 'BUSY', 'RESTARTING'), ...actors('w1', 'cpu', 'IDLE')],
      }),
      workerManifest('w2', [modelEvaluate('1.1.0')], { actors: actors('w2', 'gpu', 'IDLE') }),
      // a worker that takes no work (draining: its actors still show what they do) offers nothing
      workerManifest('w3', [modelTrain()], {
        ready: false,
        accepting: false,
        actors: actors('w3', 'gpu', 'IDLE'),
      }),
      // a quarantined actor is neither free nor busy: w5's other gpu actor is busy, so still a backlog
      workerManifest('w5', [modelTrain()], {
        ready: false,
        actors: actors('w5', 'gpu', 'QUARANTINED', 'BUSY'),
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

  it('offers, per resource class, what an accepting worker still has an actor for that can take work', () => {
    const c = new CapabilityCatalog([
      // 8 GPUs, one bad: the worker is not ready (DESIGN) but accepting, the other seven keep serving; the bad
      // one shows in the manifest (and its alert)
      workerManifest('host8', [modelTrain(), imageResize()], {
        ready: false,
        actors: [
          ...actors(
            'host8',
            'gpu',
            'BUSY',
            'BUSY',
            'BUSY',
            'QUARANTINED',
            'BUSY',
            'BUSY',
            'RESTARTING',
            'BUSY',
          ),
          ...actors('host8', 'cpu', 'IDLE'),
        ],
      }),
      // every GPU quarantined, the CPU actor fine: the worker still accepts, but offers its cpu task only
      workerManifest('bad-gpus', [modelEvaluate(), imageResize('2.0.0')], {
        ready: false,
        actors: [
          ...actors('bad-gpus', 'gpu', 'QUARANTINED', 'QUARANTINED'),
          ...actors('bad-gpus', 'cpu', 'BUSY'),
        ],
      }),
      // a class whose actors are all STOPPED takes nothing either
      workerManifest('stopped', [modelEvaluate('1.1.0')], { actors: actors('stopped', 'gpu', 'STOPPED') }),
    ]);
    expect(c.taskNames()).toEqual(['image.resize', 'model.train']);
    expect(c.resolve('model.evaluate')).toBeNull();
    expect(c.versions('image.resize')).toEqual(['2.0.0', '1.0.0']);
    expect(c.capabilities().find((x) => x.name === 'image.resize')?.workers).toBe(2);
    expect(Object.fromEntries(c.loads())).toEqual({
      'model.train': { backlog: true },
      'image.resize': { backlog: false },
    });
    // not a fault of the manifest: the quarantine is reported by the worker (metrics, alert), not here
    expect(c.problems).toEqual([]);
  });

  it("goes by an older worker's ready when its manifest has no accepting", () => {
    const older = (...args: Parameters<typeof workerManifest>) => {
      const { accepting: _accepting, ...m } = workerManifest(...args);
      return m;
    };
    const c = new CapabilityCatalog([
      // not ready for a quarantined actor: such a worker was left out before, and still is
      older('old-q', [modelTrain()], { ready: false, actors: actors('old-q', 'gpu', 'QUARANTINED', 'IDLE') }),
      older('old-ok', [imageResize()]),
    ]);
    expect(c.taskNames()).toEqual(['image.resize']);
  });
});
