import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TEMPLATES_DIR, TemplateRegistry } from './template-registry.js';
import { TemplateLoadError } from './template-load-error.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function dirWith(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sy-templates-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

const greet = (overrides: Record<string, unknown> = {}) => ({
  name: 'greet',
  version: 1,
  description: 'A template for tests',
  paramsSchema: {
    type: 'object',
    properties: {
      who: { type: 'string' },
      times: { type: 'integer', minimum: 1, default: 2 },
      loud: { type: 'boolean' },
    },
    required: ['who'],
    additionalProperties: false,
  },
  graph: {
    nodes: [
      {
        id: 'say',
        task: 'text.say',
        inputs: { text: { $param: 'who' }, repeat: { $param: 'times' }, loud: { $param: 'loud' } },
      },
      {
        id: 'log',
        task: 'text.log',
        inputs: { line: { $ref: 'say.outputs.text' }, tags: ['fixed', { $param: 'times' }] },
      },
    ],
  },
  ...overrides,
});

function loadError(files: Record<string, unknown>): TemplateLoadError {
  try {
    TemplateRegistry.loadFromDir(dirWith(files));
  } catch (e) {
    if (e instanceof TemplateLoadError) return e;
    throw e;
  }
  throw new Error('expected a TemplateLoadError');
}

describe('TemplateRegistry: the repo templates', () => {
  const registry = TemplateRegistry.loadFromDir(DEFAULT_TEMPLATES_DIR);

  it('finds <repo>/templates and lists each template with its params schema', () => {
    expect(DEFAULT_TEMPLATES_DIR).toMatch(/\/templates$/);
    const list = registry.list();
    expect(list.map((t) => [t.name, t.version])).toEqual([
      ['thumbnail', 1],
      ['train-and-evaluate', 1],
    ]);
    expect(list[0]!.paramsSchema).toMatchObject({ required: ['image', 'width'] });
    expect(list[1]!.description).toMatch(/Train/);
  });

  it('expands thumbnail into one image.resize node', () => {
    expect(registry.expand('thumbnail', { image: 'art_1', width: 200 })).toEqual({
      ok: true,
      name: 'thumbnail',
      version: 1,
      graph: {
        nodes: [
          { id: 'resize', task: 'image.resize', version: '^1.0.0', inputs: { image: 'art_1', width: 200 } },
        ],
      },
    });
  });

  it('expands train-and-evaluate, leaving out an omitted optional param', () => {
    const r = registry.expand('train-and-evaluate', { dataset: 'art_csv' });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.graph.nodes.map((n) => [n.id, n.task, n.inputs])).toEqual([
      ['train', 'model.train', { dataset: 'art_csv' }],
      ['evaluate', 'model.evaluate', { model: { $ref: 'train.outputs.model' }, dataset: 'art_csv' }],
    ]);
  });

  it('refuses bad params with their paths, and an unknown template', () => {
    expect(registry.expand('thumbnail', { width: 1.5, colour: 'red' })).toEqual({
      ok: false,
      errors: expect.arrayContaining([
        expect.objectContaining({ code: 'INVALID_INPUT', path: 'params.image' }),
        expect.objectContaining({ code: 'INVALID_INPUT', path: 'params.width' }),
        expect.objectContaining({ code: 'INVALID_INPUT', path: 'params.colour' }),
      ]),
    });
    expect(registry.expand('thumbnail', [1, 2])).toEqual({
      ok: false,
      errors: [{ code: 'INVALID_INPUT', path: 'params', message: 'params must be an object' }],
    });
    const unknown = registry.expand('thumbnails', {});
    expect(unknown.ok).toBe(false);
    expect(!unknown.ok && unknown.errors[0]!.code).toBe('UNKNOWN_TEMPLATE');
  });
});

describe('TemplateRegistry: expansion details', () => {
  it('fills defaults without touching the caller params, substitutes inside arrays, pins versions', () => {
    const v2 = greet({ version: 2, description: 'second' });
    const registry = TemplateRegistry.loadFromDir(
      dirWith({ 'greet.v1.json': greet(), 'greet.v2.json': v2, 'README.md': '# not a template' }),
    );
    expect(registry.list()).toEqual([
      expect.objectContaining({ name: 'greet', version: 2, description: 'second' }),
    ]);

    const params = { who: 'ada' };
    const r = registry.expand('greet', params);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(params).toEqual({ who: 'ada' });
    expect(r.version).toBe(2);
    expect(r.graph.nodes[0]!.inputs).toEqual({ text: 'ada', repeat: 2 });
    expect(r.graph.nodes[1]!.inputs).toEqual({ line: { $ref: 'say.outputs.text' }, tags: ['fixed', 2] });

    const pinned = registry.expand('greet@1', { who: 'bob', times: 5, loud: true });
    expect(pinned.ok && [pinned.version, pinned.graph.nodes[0]!.inputs]).toEqual([
      1,
      { text: 'bob', repeat: 5, loud: true },
    ]);
    expect(registry.expand('greet@3', { who: 'x' }).ok).toBe(false);
  });
});

describe('TemplateRegistry: a bad template is refused at load, naming the file and the problem', () => {
  it('unreadable JSON', () => {
    const e = loadError({ 'greet.v1.json': '{ "name": ' });
    expect(e.file).toMatch(/greet\.v1\.json$/);
    expect(e.message).toMatch(/not readable JSON/);
  });

  it('a file that does not match the template shape', () => {
    const e = loadError({ 'greet.v1.json': { ...greet(), version: 'one', graph: { nodes: [] } } });
    expect(e.problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^version:/), expect.stringMatching(/^graph\.nodes:/)]),
    );
  });

  it('a file name that does not say what it holds', () => {
    expect(loadError({ 'hello.json': greet() }).message).toMatch(/file name must be greet\.v1\.json/);
  });

  it('a params schema that does not compile or is not an object', () => {
    const broken = greet({ paramsSchema: { type: 'array', items: { type: 'strnig' } } });
    const e = loadError({ 'greet.v1.json': broken });
    expect(e.problems).toEqual(
      expect.arrayContaining([
        'paramsSchema must have "type": "object"',
        expect.stringMatching(/paramsSchema does not compile/),
      ]),
    );
  });

  it('placeholders naming undeclared params, unused params, and an optional param inside an array', () => {
    const t = greet();
    t.graph.nodes[0]!.inputs.text = { $param: 'whom' };
    (t.graph.nodes[1]!.inputs.tags as unknown[]).push({ $param: 'loud' });
    const e = loadError({ 'greet.v1.json': t });
    expect(e.problems).toEqual([
      'node "say" inputs.text: $param "whom" is not declared in paramsSchema.properties',
      'node "log" inputs.tags.2: $param "loud" sits in an array, so it must be required or have a default',
      'param "who" is declared but no node uses it',
    ]);
  });

  it('a structurally invalid graph: cycle, unknown dependency, bad reference', () => {
    const t = greet();
    const [say, log] = t.graph.nodes as Array<Record<string, unknown>>;
    say!.dependsOn = ['log', 'ghost'];
    log!.inputs = {
      line: { $ref: 'nobody.outputs.text' },
      tags: [{ $param: 'times' }],
      who: { $param: 'who' },
    };
    log!.dependsOn = ['say'];
    const e = loadError({ 'greet.v1.json': t });
    expect(e.problems).toEqual([
      expect.stringMatching(/^UNKNOWN_DEPENDENCY at node "say" dependsOn\.1/),
      expect.stringMatching(/^BAD_REFERENCE at node "log" inputs\.line/),
      expect.stringMatching(/^CYCLE at node "say": nodes "say", "log" form a cycle/),
    ]);
  });

  it('a directory that does not exist', () => {
    expect(() => TemplateRegistry.loadFromDir(join(tmpdir(), 'sy-no-such-templates'))).toThrow(
      /not a directory/,
    );
  });
});
