import type { NodeSpec } from '#libs/contracts';
import { CapabilityCatalog } from '../registry/capability-catalog.js';
import { imageResize, modelTrain, workerManifest } from '../registry/test/manifests.js';
import { DEFAULT_TEMPLATES_DIR, TemplateRegistry } from '../templates/template-registry.js';
import { planJob } from './planner.js';
import { timeoutErrors } from './timeout-bounds.js';

const train = { ...modelTrain('1.0.0'), minTimeoutSeconds: 60 };

describe('timeoutErrors', () => {
  it('refuses a node timeout below the task minimum, accepts it at or above, and no override', () => {
    expect(timeoutErrors({ id: 't', timeoutSeconds: 1 }, train)).toEqual([
      {
        code: 'INVALID_INPUT',
        nodeId: 't',
        path: 'timeoutSeconds',
        message: expect.stringMatching(
          /timeoutSeconds 1 is below the minimum of model\.train@1\.0\.0 \(60 s\)/,
        ),
      },
    ]);
    expect(timeoutErrors({ id: 't', timeoutSeconds: 60 }, train)).toEqual([]);
    expect(timeoutErrors({ id: 't' }, train)).toEqual([]);
    expect(timeoutErrors({ id: 'r', timeoutSeconds: 1 }, imageResize('1.0.0'))).toEqual([]);
  });

  it('is applied by planJob', () => {
    const catalog = new CapabilityCatalog([workerManifest('gpu-1', [train])]);
    const templates = TemplateRegistry.loadFromDir(DEFAULT_TEMPLATES_DIR);
    const node = (timeoutSeconds?: number): NodeSpec =>
      ({
        id: 'fit',
        task: 'model.train',
        inputs: { dataset: 'art_data' },
        ...(timeoutSeconds ? { timeoutSeconds } : {}),
      }) as NodeSpec;
    const refused = planJob({ graph: { nodes: [node(5)] } }, catalog, templates, {});
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.errors).toEqual([
      expect.objectContaining({ code: 'INVALID_INPUT', nodeId: 'fit', path: 'timeoutSeconds' }),
    ]);
    const planned = planJob({ graph: { nodes: [node()] } }, catalog, templates, {});
    expect(planned.ok && planned.plan.nodes[0]!.timeoutMs).toBe(train.timeoutMs);
  });
});
