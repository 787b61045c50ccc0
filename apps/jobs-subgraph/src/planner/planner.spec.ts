import type { GraphError, NodeSpec, SubmitJobInput } from '#libs/contracts';
import { CapabilityCatalog } from '../registry/capability-catalog.js';
import { imageResize, modelEvaluate, modelTrain, workerManifest } from '../registry/test/manifests.js';
import { DEFAULT_TEMPLATES_DIR, TemplateRegistry } from '../templates/template-registry.js';
import { MAX_GRAPH_ERRORS, planJob, type PlanResult } from './planner.js';
import { taskSchemaValidators } from './schema-validation.js';

const catalog = new CapabilityCatalog([
  workerManifest('cpu-1', [imageResize('1.0.0'), imageResize('1.3.0')]),
  workerManifest('gpu-1', [modelTrain('1.0.0'), modelEvaluate('1.0.0'), imageResize('2.0.0')]),
]);
const templates = TemplateRegistry.loadFromDir(DEFAULT_TEMPLATES_DIR);

const plan = (nodes: unknown[], limits = {}): PlanResult =>
  planJob({ graph: { nodes: nodes as NodeSpec[] } }, catalog, templates, limits);

function errorsOf(result: PlanResult): GraphError[] {
  if (result.ok)
    throw new Error(`expected a refused plan, got ${JSON.stringify(result.plan.nodes.map((n) => n.id))}`);
  return result.errors;
}

const resize = (
  id: string,
  inputs: Record<string, unknown> = { image: 'art_src', width: 64 },
  extra = {},
) => ({
  id,
  task: 'image.resize',
  version: '^1',
  inputs,
  ...extra,
});

describe('planJob: a valid diamond', () => {
  // A → B, A → C, B + C → D, submitted out of order.
  const nodes = [
    resize(
      'D',
      { image: { $ref: 'B.outputs.image' }, width: { $ref: 'C.outputs.width' } },
      { dependsOn: ['A', 'B'] },
    ),
    resize('C', { image: { $ref: 'A.outputs.image' }, width: 64, format: 'webp' }),
    resize('A', { image: 'art_src', width: 512 }, { version: undefined }),
    resize('B', { image: { $ref: 'A.outputs.image' }, width: 128 }, { attempts: 5, timeoutSeconds: 30 }),
  ];

  it('orders nodes topologically with their upstream sets', () => {
    const result = plan(nodes);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.plan.template).toBeUndefined();
    expect(result.plan.nodes.map((n) => n.id)).toEqual(['A', 'C', 'B', 'D']);
    const byId = Object.fromEntries(result.plan.nodes.map((n) => [n.id, n]));
    expect(byId.A!.upstream).toEqual([]);
    expect(byId.B!.upstream).toEqual(['A']);
    expect(byId.C!.upstream).toEqual(['A']);
    expect([...byId.D!.upstream].sort()).toEqual(['A', 'B', 'C']);
  });

  it('resolves versions, resource classes, attempts and timeouts, keeping $refs as given', () => {
    const result = plan(nodes);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const byId = Object.fromEntries(result.plan.nodes.map((n) => [n.id, n]));
    expect(byId.A!.taskVersion).toBe('2.0.0'); // no range: newest live
    expect(byId.B!.taskVersion).toBe('1.3.0'); // ^1: newest 1.x
    expect(byId.A!.resourceClass).toBe('cpu');
    expect(byId.B!).toMatchObject({ attempts: 5, timeoutMs: 30_000 });
    expect(byId.C!).toMatchObject({ attempts: 3, timeoutMs: 60_000 });
    expect(byId.D!.inputs).toEqual({
      image: { $ref: 'B.outputs.image' },
      width: { $ref: 'C.outputs.width' },
    });
    expect(byId.D!.manifest.outputSchema).toEqual(imageResize().outputSchema);
  });

  it('puts GPU tasks on the gpu class and accepts a $ref as a present required input', () => {
    const result = plan([
      { id: 'train', task: 'model.train', inputs: { dataset: 'art_csv', epochs: 3 } },
      {
        id: 'evaluate',
        task: 'model.evaluate',
        inputs: { model: { $ref: 'train.outputs.model' }, dataset: 'art_csv' },
      },
    ]);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.plan.nodes.map((n) => [n.id, n.resourceClass, n.upstream])).toEqual([
      ['train', 'gpu', []],
      ['evaluate', 'gpu', ['train']],
    ]);
  });

  it('compiles each task schema once, not per submit', () => {
    plan(nodes);
    const compiled = taskSchemaValidators.size;
    for (let i = 0; i < 20; i++) expect(plan(nodes).ok).toBe(true);
    expect(taskSchemaValidators.size).toBe(compiled);
  });
});

describe('planJob: each GraphError code', () => {
  it('CYCLE names the nodes of the cycle', () => {
    const errors = errorsOf(
      plan([
        resize('a', { image: { $ref: 'c.outputs.image' }, width: 8 }),
        resize('b', undefined, { dependsOn: ['a'] }),
        resize('c', { image: { $ref: 'b.outputs.image' }, width: 8 }),
        resize('ok'),
      ]),
    );
    expect(errors).toEqual([
      { code: 'CYCLE', nodeId: 'a', message: 'nodes "a", "b", "c" form a cycle (a → b → c → a)' },
    ]);
  });

  it('CYCLE for a node that depends on itself', () => {
    const errors = errorsOf(plan([resize('a', undefined, { dependsOn: ['a'] })]));
    expect(errors).toEqual([expect.objectContaining({ code: 'CYCLE', nodeId: 'a', path: 'dependsOn.0' })]);
  });

  it('UNKNOWN_TASK when no live worker offers the task', () => {
    const errors = errorsOf(plan([{ id: 'x', task: 'video.transcode', inputs: {} }]));
    expect(errors).toEqual([
      {
        code: 'UNKNOWN_TASK',
        nodeId: 'x',
        path: 'task',
        message: 'no live worker offers task "video.transcode"',
      },
    ]);
  });

  it('VERSION_UNAVAILABLE when no live version satisfies the range', () => {
    const errors = errorsOf(plan([resize('x', undefined, { version: '^3.0.0' })]));
    expect(errors).toEqual([
      expect.objectContaining({ code: 'VERSION_UNAVAILABLE', nodeId: 'x', path: 'version' }),
    ]);
    expect(errors[0]!.message).toContain('2.0.0, 1.3.0, 1.0.0');
  });

  it('INVALID_INPUT with the path of each bad field', () => {
    const errors = errorsOf(
      plan([
        resize('r', { width: 0, format: 'gif', colour: 'red' }),
        resize('9lives'),
        resize('v', undefined, { version: 'newest please' }),
      ]),
    );
    const found = errors.map((e) => [e.code, e.nodeId, e.path]);
    expect(found).toEqual(
      expect.arrayContaining([
        ['INVALID_INPUT', 'r', 'inputs.width'],
        ['INVALID_INPUT', 'r', 'inputs.format'],
        ['INVALID_INPUT', 'r', 'inputs.colour'],
        ['INVALID_INPUT', 'r', 'inputs.image'],
        ['INVALID_INPUT', '9lives', 'id'],
        ['INVALID_INPUT', 'v', 'version'],
      ]),
    );
    expect(errors).toHaveLength(6);
    expect(errors.find((e) => e.path === 'inputs.image')!.message).toBe('inputs.image is required');
  });

  it('INVALID_INPUT for a $ref placed under an input the task does not declare', () => {
    const errors = errorsOf(
      plan([
        resize('a'),
        resize('b', { image: { $ref: 'a.outputs.image' }, width: 2, colour: { $ref: 'a.outputs.width' } }),
      ]),
    );
    expect(errors).toEqual([
      expect.objectContaining({ code: 'INVALID_INPUT', nodeId: 'b', path: 'inputs.colour' }),
    ]);
  });

  it('INVALID_INPUT for a node the contract refuses, without follow-on errors for nodes that name it', () => {
    const errors = errorsOf(
      plan([
        resize('a', undefined, { attempts: 0 }),
        resize('c', { image: { $ref: 'a.outputs.image' }, width: 1 }, { dependsOn: ['a'] }),
      ]),
    );
    expect(errors).toEqual([
      expect.objectContaining({ code: 'INVALID_INPUT', nodeId: 'a', path: 'attempts' }),
    ]);
  });

  it('INVALID_INPUT for a node the contract refuses (attempts 0), alongside other problems', () => {
    const errors = errorsOf(
      plan([resize('a', undefined, { attempts: 0 }), resize('b', { width: 'wide', image: 'x' })]),
    );
    expect(errors.map((e) => [e.code, e.nodeId, e.path])).toEqual(
      expect.arrayContaining([
        ['INVALID_INPUT', 'a', 'attempts'],
        ['INVALID_INPUT', 'b', 'inputs.width'],
      ]),
    );
  });

  it('INVALID_INPUT when a $ref output type cannot fit the input', () => {
    const errors = errorsOf(
      plan([
        { id: 'train', task: 'model.train', inputs: { dataset: 'art_csv' } },
        resize('r', { image: 'art_1', width: { $ref: 'train.outputs.model' } }),
      ]),
    );
    expect(errors).toEqual([
      {
        code: 'INVALID_INPUT',
        nodeId: 'r',
        path: 'inputs.width',
        message: 'inputs.width expects integer but "train.outputs.model" is string',
      },
    ]);
  });

  it('BAD_REFERENCE to a missing node, an undeclared field, a malformed ref and the node itself', () => {
    const errors = errorsOf(
      plan([
        { id: 'train', task: 'model.train', inputs: { dataset: 'art_csv' } },
        {
          id: 'e1',
          task: 'model.evaluate',
          inputs: { model: { $ref: 'trian.outputs.model' }, dataset: 'd' },
        },
        {
          id: 'e2',
          task: 'model.evaluate',
          inputs: { model: { $ref: 'train.outputs.weights' }, dataset: 'd' },
        },
        { id: 'e3', task: 'model.evaluate', inputs: { model: { $ref: 'train.model' }, dataset: 'd' } },
        resize('r', { image: { $ref: 'r.outputs.image' }, width: 3 }),
      ]),
    );
    expect(errors.map((e) => [e.code, e.nodeId, e.path])).toEqual([
      ['BAD_REFERENCE', 'e1', 'inputs.model'],
      ['BAD_REFERENCE', 'e3', 'inputs.model'],
      ['BAD_REFERENCE', 'r', 'inputs.image'],
      ['BAD_REFERENCE', 'e2', 'inputs.model'],
    ]);
    expect(errors[3]!.message).toBe(
      '"train.outputs.weights": model.train@1.0.0 declares no output "weights"',
    );
  });

  it('DUPLICATE_NODE once per repeated id', () => {
    const errors = errorsOf(plan([resize('a'), resize('a'), resize('a'), resize('b')]));
    expect(errors).toEqual([{ code: 'DUPLICATE_NODE', nodeId: 'a', message: 'node id "a" is used 3 times' }]);
  });

  it('UNKNOWN_DEPENDENCY for dependsOn naming no node', () => {
    const errors = errorsOf(plan([resize('a', undefined, { dependsOn: ['b', 'ghost'] }), resize('b')]));
    expect(errors).toEqual([
      expect.objectContaining({ code: 'UNKNOWN_DEPENDENCY', nodeId: 'a', path: 'dependsOn.1' }),
    ]);
    expect(errors[0]!.message).toContain('"ghost"');
  });

  it('UNKNOWN_TEMPLATE', () => {
    const errors = errorsOf(planJob({ template: 'thumbnale', params: {} }, catalog, templates));
    expect(errors).toEqual([expect.objectContaining({ code: 'UNKNOWN_TEMPLATE', path: 'template' })]);
    expect(errors[0]!.message).toContain('thumbnail, train-and-evaluate');
  });

  it('EMPTY_GRAPH', () => {
    expect(errorsOf(plan([]))).toEqual([expect.objectContaining({ code: 'EMPTY_GRAPH' })]);
  });

  it('TOO_LARGE for node count, edge count and input size', () => {
    const many = Array.from({ length: 5 }, (_, i) => resize(`n${i}`));
    expect(errorsOf(plan(many, { maxNodes: 4 }))).toEqual([
      { code: 'TOO_LARGE', path: 'graph.nodes', message: '5 nodes, over the limit of 4' },
    ]);

    const fan = [
      resize('root'),
      ...Array.from({ length: 4 }, (_, i) => resize(`leaf${i}`, undefined, { dependsOn: ['root'] })),
    ];
    expect(errorsOf(plan(fan, { maxEdges: 3 }))).toEqual([
      { code: 'TOO_LARGE', path: 'graph.nodes', message: '4 dependencies, over the limit of 3' },
    ]);

    const big = resize('big', { image: 'x'.repeat(300 * 1024), width: 1 });
    expect(errorsOf(plan([big]))).toEqual([expect.objectContaining({ code: 'TOO_LARGE', path: 'graph' })]);
    expect(
      errorsOf(
        planJob(
          { template: 'thumbnail', params: { image: 'x'.repeat(2000), width: 1 } },
          catalog,
          templates,
          { maxInputBytes: 1000 },
        ),
      ),
    ).toEqual([expect.objectContaining({ code: 'TOO_LARGE', path: 'params' })]);
  });

  it('counts labels in the input size', () => {
    const graph = { nodes: [resize('a')] as NodeSpec[] };
    const labels = { note: 'x'.repeat(900) };
    expect(planJob({ graph, labels }, catalog, templates, { maxInputBytes: 2000 }).ok).toBe(true);
    const [error] = errorsOf(planJob({ graph, labels }, catalog, templates, { maxInputBytes: 1000 }));
    expect(error).toMatchObject({ code: 'TOO_LARGE', path: 'graph' });
    expect(error!.message).toMatch(/with 911 bytes of labels/);
  });
});

describe('planJob: every problem at once', () => {
  it('reports problems of different kinds and nodes together', () => {
    const errors = errorsOf(
      plan([
        resize('a', { image: 'x', width: -1 }),
        resize('a'),
        { id: 'b', task: 'nope.task' },
        resize(
          'c',
          { image: { $ref: 'ghost.outputs.image' }, width: 2 },
          { dependsOn: ['phantom'], version: '>=9' },
        ),
        resize('d', undefined, { dependsOn: ['e'] }),
        resize('e', undefined, { dependsOn: ['d'] }),
      ]),
    );
    expect(errors.map((e) => `${e.code}:${e.nodeId}`).sort()).toEqual(
      [
        'DUPLICATE_NODE:a',
        'UNKNOWN_DEPENDENCY:c',
        'BAD_REFERENCE:c',
        'CYCLE:d',
        'INVALID_INPUT:a',
        'UNKNOWN_TASK:b',
        'VERSION_UNAVAILABLE:c',
      ].sort(),
    );
  });

  it('lists at most MAX_GRAPH_ERRORS problems, then one TOO_LARGE that counts the rest', () => {
    // a 200 KB graph once drew 14,002 errors (1.6 MB of answer, ~1 s of CPU between the subgraph and the
    // gateway, against ~30 ms for a valid graph of the same size): the answer is bounded, not the input's problems
    const inputs = Object.fromEntries(
      Array.from({ length: 500 }, (_, i) => [`k${i}`, { $ref: 'a.outputs.x' }]),
    );
    const errors = errorsOf(plan([resize('a', inputs)]));
    expect(errors).toHaveLength(MAX_GRAPH_ERRORS + 1);
    expect(errors.slice(0, MAX_GRAPH_ERRORS).every((e) => e.code !== 'TOO_LARGE')).toBe(true);
    expect(errors[MAX_GRAPH_ERRORS]).toEqual({
      code: 'TOO_LARGE',
      path: 'graph',
      message: `1002 problems; the first ${MAX_GRAPH_ERRORS} are listed`,
    });
    // template params too
    const params = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`p${i}`, 1]));
    const fromTemplate = errorsOf(planJob({ template: 'thumbnail', params }, catalog, templates));
    expect(fromTemplate).toHaveLength(MAX_GRAPH_ERRORS + 1);
    expect(fromTemplate[MAX_GRAPH_ERRORS]!.code).toBe('TOO_LARGE');
    // up to the bound every problem is listed, as before
    const few = errorsOf(
      plan([resize('a', Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, 1])))]),
    );
    expect(few.length).toBeLessThanOrEqual(MAX_GRAPH_ERRORS);
    expect(few.some((e) => e.code === 'TOO_LARGE')).toBe(false);
  });

  it('refuses both graph and template, and neither', () => {
    const both = { graph: { nodes: [resize('a')] }, template: 'thumbnail' } as SubmitJobInput;
    expect(errorsOf(planJob(both, catalog, templates))[0]!.code).toBe('INVALID_INPUT');
    expect(errorsOf(planJob({} as SubmitJobInput, catalog, templates))[0]!.code).toBe('INVALID_INPUT');
  });
});

describe('planJob: templates', () => {
  it('plans thumbnail from its params', () => {
    const result = planJob(
      { template: 'thumbnail', params: { image: 'art_1', width: 320 } },
      catalog,
      templates,
    );
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.plan).toMatchObject({ template: 'thumbnail', templateVersion: 1 });
    expect(result.plan.nodes).toEqual([
      expect.objectContaining({
        id: 'resize',
        task: 'image.resize',
        taskVersion: '1.3.0',
        inputs: { image: 'art_1', width: 320 },
      }),
    ]);
  });

  it('plans train-and-evaluate: evaluate waits for train and reads its model', () => {
    const result = planJob(
      { template: 'train-and-evaluate', params: { dataset: 'art_csv', epochs: 4 } },
      catalog,
      templates,
    );
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.plan.nodes.map((n) => [n.id, n.task, n.upstream, n.inputs])).toEqual([
      ['train', 'model.train', [], { dataset: 'art_csv', epochs: 4 }],
      [
        'evaluate',
        'model.evaluate',
        ['train'],
        { model: { $ref: 'train.outputs.model' }, dataset: 'art_csv' },
      ],
    ]);
  });

  it('refuses bad params with their path, and a template whose task no worker offers', () => {
    expect(
      errorsOf(planJob({ template: 'thumbnail', params: { image: 'a', width: 0 } }, catalog, templates)),
    ).toEqual([expect.objectContaining({ code: 'INVALID_INPUT', path: 'params.width' })]);
    const cpuOnly = new CapabilityCatalog([workerManifest('cpu-1', [imageResize()])]);
    expect(
      errorsOf(planJob({ template: 'train-and-evaluate', params: { dataset: 'd' } }, cpuOnly, templates)),
    ).toEqual([
      expect.objectContaining({ code: 'UNKNOWN_TASK', nodeId: 'train' }),
      expect.objectContaining({ code: 'UNKNOWN_TASK', nodeId: 'evaluate' }),
    ]);
  });
});
