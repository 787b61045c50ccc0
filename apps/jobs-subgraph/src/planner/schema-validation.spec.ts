import type { JsonObject } from '#libs/contracts';
import { findRefs } from './refs.js';
import {
  createAjv,
  schemaIssues,
  SchemaCompileError,
  SchemaValidatorCache,
  subschemaAt,
  typesCompatible,
  withoutRefIssues,
} from './schema-validation.js';

describe('findRefs', () => {
  const inputs: JsonObject = {
    model: { $ref: 'train.outputs.model' },
    shards: [{ $ref: 'a.outputs.x' }, 'literal', { nested: { $ref: 'bad' } }],
    options: { notARef: { $ref: 'a.outputs.x', extra: 1 } },
  };

  it('finds references at any depth, parsed or not', () => {
    expect(findRefs(inputs)).toEqual([
      { path: ['model'], ref: 'train.outputs.model', target: { nodeId: 'train', field: 'model' } },
      { path: ['shards', 0], ref: 'a.outputs.x', target: { nodeId: 'a', field: 'x' } },
      { path: ['shards', 2, 'nested'], ref: 'bad', target: null },
    ]);
  });
});

describe('schema validation', () => {
  const schema = {
    type: 'object',
    properties: {
      model: { type: 'string' },
      source: { anyOf: [{ type: 'string', format: 'uri' }, { type: 'integer' }] },
      list: { type: 'array', items: { type: 'number' } },
      when: { type: 'string', format: 'date-time' },
    },
    required: ['model'],
    additionalProperties: false,
  };
  const validate = createAjv({ strict: false }).compile(schema);

  it('reports every issue with its path, including formats', () => {
    const issues = schemaIssues(validate, { list: [1, 'x'], when: 'yesterday', extra: true });
    expect(issues.map((i) => [i.path.join('.'), i.keyword])).toEqual(
      expect.arrayContaining([
        ['model', 'required'],
        ['list.1', 'type'],
        ['when', 'format'],
        ['extra', 'additionalProperties'],
      ]),
    );
  });

  it('treats a $ref as present and untyped, including inside anyOf, but keeps unrelated issues', () => {
    const data = { model: { $ref: 'a.outputs.m' }, source: { $ref: 'a.outputs.s' }, list: ['no'] };
    const issues = withoutRefIssues(schemaIssues(validate, data), [['model'], ['source']]);
    expect(issues.map((i) => [i.path.join('.'), i.keyword])).toEqual([['list.0', 'type']]);
  });

  it('finds subschemas by path and compares types', () => {
    expect(subschemaAt(schema, ['list', 3])).toEqual({ type: 'number' });
    expect(subschemaAt(schema, ['missing'])).toBeUndefined();
    expect(typesCompatible({ type: 'integer' }, { type: 'number' })).toBe(true);
    expect(typesCompatible({ type: 'string' }, { type: ['integer', 'null'] })).toBe(false);
    expect(typesCompatible(undefined, { type: 'string' })).toBe(true);
  });

  it('caches compiled validators by key and refuses a schema that does not compile', () => {
    const cache = new SchemaValidatorCache(createAjv({ strict: false }), 2);
    const first = cache.get('h1:input', { type: 'string' });
    expect(cache.get('h1:input', { type: 'string' })).toBe(first);
    cache.get('h2:input', { type: 'number' });
    cache.get('h3:input', { type: 'number' });
    expect(cache.size).toBe(2);
    expect(() => cache.get('bad:input', { type: 'strnig' })).toThrow(SchemaCompileError);
  });
});
