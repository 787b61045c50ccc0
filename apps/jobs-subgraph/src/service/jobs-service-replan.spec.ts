import { jest } from '@jest/globals';
import type { SubmitJobInput } from '#libs/contracts';
import { CapabilityCatalog } from '../registry/capability-catalog.js';
import { imageResize, modelTrain, workerManifest } from '../registry/test/manifests.js';
import type { CachedCatalog, WorkerRegistry } from '../registry/worker-registry.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { EventSubscriptions } from '../events/job-events.js';
import { DEFAULT_TEMPLATES_DIR, TemplateRegistry } from '../templates/template-registry.js';
import { JobsService } from './jobs-service.js';

const templates = TemplateRegistry.loadFromDir(DEFAULT_TEMPLATES_DIR);

/** A service whose cached catalog was read before any call (readAt 0) and whose fresh read answers `fresh`. */
function serviceWith(cached: CapabilityCatalog, fresh: CapabilityCatalog) {
  const freshReads = { count: 0 };
  const registry = {
    cachedCatalog: async (): Promise<CachedCatalog> => ({ catalog: cached, readAt: 0 }),
    freshCatalog: async (): Promise<CachedCatalog> => {
      freshReads.count += 1;
      return { catalog: fresh, readAt: Date.now() };
    },
  } as unknown as WorkerRegistry;
  const service = new JobsService({} as Scheduler, registry, templates, {} as EventSubscriptions);
  return { service, freshReads };
}

const resizeThenTrain = (train: string): SubmitJobInput => ({
  graph: {
    nodes: [
      { id: 'r', task: 'image.resize', inputs: { image: 'a1', width: 64 } },
      { id: 't', task: train, inputs: { dataset: { $ref: 'r.outputs.image' } } },
    ],
  },
});

/**
 * A plan refused against the cached catalog is planned again against a freshly read one, so a task whose worker
 * just came is not refused; but only when that catalog offers something else: against the same tasks the second
 * plan would refuse the same way, at the same cost, for every refused submission or validateGraph.
 */
describe('JobsService: a refused plan and the freshly read catalog', () => {
  it('plans again when the fresh catalog offers a task the cached one lacked, and accepts', async () => {
    const { service, freshReads } = serviceWith(
      new CapabilityCatalog([workerManifest('w1', [imageResize()])]),
      new CapabilityCatalog([workerManifest('w1', [imageResize()]), workerManifest('w2', [modelTrain()])]),
    );
    expect(await service.validateGraph(resizeThenTrain('model.train'))).toEqual({ valid: true, errors: [] });
    expect(freshReads.count).toBe(1);
  });

  it('does not plan again against a fresh catalog with the same tasks (a new read, other workers)', async () => {
    const cached = new CapabilityCatalog([workerManifest('w1', [imageResize(), modelTrain()])]);
    // another instance, read later, with the same task versions (one more worker offering them)
    const fresh = new CapabilityCatalog([
      workerManifest('w1', [imageResize(), modelTrain()]),
      workerManifest('w2', [modelTrain()]),
    ]);
    const { service, freshReads } = serviceWith(cached, fresh);
    const resolve = jest.spyOn(fresh, 'resolve');
    const has = jest.spyOn(fresh, 'has');
    const v = await service.validateGraph(resizeThenTrain('model.nope'));
    expect(v.valid).toBe(false);
    expect(v.errors.map((e) => e.code)).toContain('UNKNOWN_TASK');
    // the catalog was asked again (a worker may have come), but nothing was planned against it
    expect(freshReads.count).toBe(1);
    expect(has).not.toHaveBeenCalled();
    expect(resolve).not.toHaveBeenCalled();
  });
});
