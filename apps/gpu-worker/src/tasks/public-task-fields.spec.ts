// The built-in tasks' names and their input and output field names are public (issue 4: "clients and templates
// use them"): this pins them as the worker advertises them (the manifest's JSON Schemas, what the planner checks).
import type { TaskDefinition } from '#libs/task-sdk';
import { builtInTasks } from './index.js';
import { testTasks } from './test-tasks.js';

interface Fields {
  /** Field name → required. */
  input: Record<string, boolean>;
  output: Record<string, boolean>;
}

function fieldsOf(def: TaskDefinition): Fields {
  const m = def.manifest();
  const fields = (schema: unknown): Record<string, boolean> => {
    const s = schema as { properties?: Record<string, unknown>; required?: string[] };
    return Object.fromEntries(
      Object.keys(s.properties ?? {}).map((k) => [k, (s.required ?? []).includes(k)]),
    );
  };
  return { input: fields(m.inputSchema), output: fields(m.outputSchema) };
}

const byName = (defs: TaskDefinition[]) => new Map(defs.map((d) => [d.name, d]));

describe('built-in tasks: names, versions and field names (issue 4)', () => {
  const tasks = byName(builtInTasks);

  it('offers exactly image.resize, model.train, model.evaluate and gpu.probe, version 1', () => {
    expect(builtInTasks.map((t) => [t.name, t.version]).sort()).toEqual([
      ['gpu.probe', '1.0.0'],
      ['image.resize', '1.0.0'],
      ['model.evaluate', '1.0.0'],
      ['model.train', '1.0.0'],
    ]);
  });

  // A field given a default in zod (epochs, learningRate, validationSplit) is optional for the caller.
  it.each<[string, Fields]>([
    [
      'image.resize',
      {
        input: { image: true, width: true, height: false, format: false },
        output: { image: true, width: true, height: true },
      },
    ],
    [
      'model.train',
      {
        input: { dataset: true, epochs: false, learningRate: false, validationSplit: false },
        output: { model: true, loss: true, accuracy: true, epochs: true },
      },
    ],
    [
      'model.evaluate',
      { input: { model: true, dataset: true }, output: { accuracy: true, loss: true, rows: true } },
    ],
  ])('%s', (name, fields) => {
    expect(fieldsOf(tasks.get(name)!)).toEqual(fields);
  });

  it('image.resize takes png, jpeg or webp; its artifact fields are ids; model.train declares its minimum timeout', () => {
    const resize = tasks.get('image.resize')!.manifest();
    const format = (resize.inputSchema as { properties: { format: { enum: string[] } } }).properties.format;
    expect([...format.enum].sort()).toEqual(['jpeg', 'png', 'webp']);
    expect(resize.artifactFields).toEqual(['image']);
    expect(tasks.get('model.train')!.manifest().minTimeoutSeconds).toBe(30);
  });
});

describe('test-only tasks (SWITCHYARD_TEST_TASKS=1, issue 4)', () => {
  const tasks = byName(testTasks);

  it.each<[string, Record<string, boolean>]>([
    ['test.sleep', { ms: true }],
    ['test.fail', { times: true }],
    ['test.hang', {}],
    ['test.busy', {}],
    ['test.crash', { exitCode: false }],
  ])('%s takes %j', (name, input) => {
    expect(tasks.has(name)).toBe(true);
    expect(fieldsOf(tasks.get(name)!).input).toEqual(input);
  });
});
