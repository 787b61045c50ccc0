import fc from 'fast-check';

/**
 * Generators of hostile and ordinary submissions for the planner's property tests: cycles, huge fan-out, bad
 * `$ref`s, deep JSON, huge strings, unknown tasks, weird ids and labels, templates with junk params, and inputs
 * that are not submissions at all. Sizes are mixed so most runs are cheap and some hit every limit.
 */

/** Mostly absent: every optional field that is present is a chance to be wrong. */
const rarely = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 4 });

const KNOWN_TASKS = ['image.resize', 'model.train', 'model.evaluate'];

/** Ids: a small pool (so duplicates and references land), plus strings no id should be. */
const nodeId = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('A', 'B', 'C', 'D', 'E', 'n-1', 'n_2') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '__proto__',
      'constructor',
      'toString',
      'A.outputs.x',
      '1abc',
      'é',
      '\u0000',
      '💥',
      'a'.repeat(64),
      'a'.repeat(65),
      '$ref',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 80, unit: 'binary' }) },
);

const task = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...KNOWN_TASKS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(129), 'no.such', '../../etc', 'image.resize ') },
);

const version = fc.option(
  fc.constantFrom(
    '^1',
    '1.0.0',
    '^2',
    '>=0',
    '*',
    '1.x',
    'garbage',
    '',
    '99.0.0',
    '^1 || ^2',
    '~'.repeat(70),
  ),
  { nil: undefined },
);

const ref = fc
  .tuple(
    nodeId,
    fc.constantFrom('outputs', 'output', 'inputs'),
    fc.constantFrom('image', 'width', 'model', 'x', ''),
  )
  .map(([id, mid, field]) => ({ $ref: `${id}.${mid}.${field}` }));

/** JSON nested `depth` levels (arrays or objects), with a leaf of any kind. */
const deepJson = fc
  .tuple(
    fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 1, max: 120 }) },
      { weight: 1, arbitrary: fc.constantFrom(5_000, 50_000) },
    ),
    fc.boolean(),
    fc.jsonValue({ maxDepth: 1 }),
  )
  .map(([depth, arrays, leaf]) => {
    let v: unknown = leaf;
    for (let i = 0; i < depth; i++) v = arrays ? [v] : { k: v };
    return v;
  });

/** Mostly short, sometimes around the byte limits (16 KB labels, 256 KB input). */
const bigString = fc
  .constantFrom(10, 1_000, 16_000, 17_000, 100_000, 300_000)
  .chain((n) => fc.constantFrom('x', 'é', '\u{1F4A5}').map((c) => c.repeat(n)));

const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 20, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 8, arbitrary: ref },
  { weight: 2, arbitrary: deepJson },
  { weight: 1, arbitrary: bigString },
  { weight: 1, arbitrary: fc.constantFrom(Number.MAX_VALUE, -0, 1e308, 16_385, 0, -1) },
);

const inputs = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.dictionary(
      fc.constantFrom('image', 'width', 'height', 'format', 'dataset', 'epochs', 'model', 'x'),
      value,
      { maxKeys: 5 },
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, 'inputs', 42, [], [1, 2]) },
);

const node = fc.record(
  {
    id: nodeId,
    task,
    version,
    inputs,
    dependsOn: fc.oneof(fc.array(nodeId, { maxLength: 6 }), fc.constantFrom('A', null, [1, 2])),
    attempts: fc.oneof(fc.integer({ min: -2, max: 25 }), fc.constantFrom(1.5, '3', null)),
    timeoutSeconds: fc.oneof(fc.integer({ min: 0, max: 8 * 24 * 3600 }), fc.constant(Number.NaN)),
  },
  { requiredKeys: ['id', 'task'] },
);

/** A root and `n` nodes that all depend on it (and maybe on each other, making cycles). */
const fanOut = fc.tuple(fc.integer({ min: 1, max: 400 }), fc.boolean()).map(([n, cyclic]) => ({
  nodes: [
    {
      id: 'root',
      task: 'image.resize',
      inputs: { image: 'art', width: 1 },
      ...(cyclic ? { dependsOn: ['n0'] } : {}),
    },
    ...Array.from({ length: n }, (_, i) => ({
      id: `n${i}`,
      task: 'image.resize',
      inputs: { image: { $ref: 'root.outputs.image' }, width: 64 },
      dependsOn: cyclic && i > 0 ? [`n${i - 1}`] : [],
    })),
  ],
}));

/** A chain whose last node points back to the first. */
const cycle = fc.integer({ min: 1, max: 60 }).map((n) => ({
  nodes: Array.from({ length: n }, (_, i) => ({
    id: `c${i}`,
    task: 'image.resize',
    inputs: { image: { $ref: `c${(i + 1) % n}.outputs.image` }, width: 8 },
  })),
}));

const graph = fc.oneof(
  { weight: 6, arbitrary: fc.record({ nodes: fc.array(node, { maxLength: 8 }) }) },
  { weight: 1, arbitrary: fanOut },
  { weight: 1, arbitrary: cycle },
  {
    weight: 1,
    arbitrary: fc.constantFrom({}, { nodes: 'A' }, { nodes: null }, [], 'graph', { nodes: [null, 1] }),
  },
);

const labels = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.dictionary(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 8 }),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 60, max: 200 })
      .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
  },
  { weight: 1, arbitrary: bigString.map((s) => ({ note: s })) },
  { weight: 1, arbitrary: deepJson.map((d) => ({ d })) },
  { weight: 1, arbitrary: fc.constantFrom('labels', 7, [], null, { '': 1 }, { ['k'.repeat(200)]: 1 }) },
);

const templateSubmission = fc
  .record(
    {
      template: fc.constantFrom('thumbnail', 'train-and-evaluate', 'no-such-template', '', '__proto__'),
      params: fc.oneof(
        fc.constant({ image: 'art_1', width: 64 }),
        fc.record({
          image: fc.oneof(fc.string({ maxLength: 10 }), fc.constant('art_1')),
          width: fc.oneof(fc.integer(), fc.constant('64')),
        }),
        fc.jsonValue({ maxDepth: 3 }),
        deepJson,
        bigString.map((s) => ({ image: s, width: 1 })),
      ),
      labels: rarely(labels),
    },
    { requiredKeys: ['template'] },
  )
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));

/** A chain of 1..n resize nodes, each reading the previous one's image: valid unless something else is off. */
const validChain = fc.integer({ min: 1, max: 12 }).map((n) => ({
  nodes: Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    task: 'image.resize',
    version: '^1',
    inputs: { image: i === 0 ? 'art_src' : { $ref: `r${i - 1}.outputs.image` }, width: 64 + i },
  })),
}));

const graphSubmission = fc
  .record({
    graph: fc.oneof({ weight: 4, arbitrary: graph }, { weight: 1, arbitrary: validChain }),
    labels: rarely(labels),
    priority: rarely(fc.oneof(fc.integer({ min: -5, max: 2000 }), fc.constant(0.5))),
    idempotencyKey: rarely(fc.string({ maxLength: 250 })),
    template: rarely(fc.constant('thumbnail')), // with a graph: "exactly one of graph or template"
  })
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));

/** Anything a client could send as `SubmitJobInput`. */
export const hostileSubmission: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: graphSubmission },
  { weight: 2, arbitrary: templateSubmission },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
);
