import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import ajvFormats from 'ajv-formats';
import { REPO_ROOT } from '#libs/testing';
import { schemaValidator } from './schema-validator.js';

// ajv-formats is CommonJS: its default import is the plugin function itself at run time.
const addFormats = ajvFormats as unknown as (ajv: Ajv) => Ajv;

const templates = readdirSync(join(REPO_ROOT, 'templates'))
  .filter((f) => f.endsWith('.json'))
  .map(
    (f) =>
      JSON.parse(readFileSync(join(REPO_ROOT, 'templates', f), 'utf8')) as {
        name: string;
        paramsSchema: object;
      },
  );

/** Ajv as the jobs subgraph runs it: every error, the formats, strict off (templates may carry annotations). */
const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
const ajvErrors = (schema: object, value: unknown) => {
  const check = ajv.compile(schema);
  check(value);
  return (check.errors ?? []).map((e) => `${e.instancePath} ${e.keyword} ${e.message}`).sort();
};
type Raw = { instancePath: string; keyword: string; message: string };
const ours = (schema: object, value: unknown) =>
  (schemaValidator.rawValidation<Raw>(schema, value).errors ?? [])
    .map((e) => `${e.instancePath} ${e.keyword} ${e.message}`)
    .sort();

describe('console schema validator (no eval, for the CSP)', () => {
  const values: unknown[] = [
    {},
    { image: 'a1', width: 64 },
    { image: '', width: 0 },
    { image: 'a1', width: 64.5 },
    { image: 'a1', width: 9000, extra: true },
    { image: 7, width: '64' },
    { dataset: 'd', epochs: 1001 },
    { dataset: 'd' },
    null,
    [],
  ];
  it.each(templates.map((t) => [t.name, t.paramsSchema] as const))(
    "finds what Ajv finds for template %s's paramsSchema",
    (_name, schema) => {
      for (const v of values) expect([v, ours(schema, v)]).toEqual([v, ajvErrors(schema, v)]);
    },
  );

  it('matches Ajv on the other keywords', () => {
    const schema = {
      type: 'object',
      properties: {
        mode: { enum: ['fast', 'slow'] },
        tag: { type: 'string', pattern: '^[a-z]+$', maxLength: 3 },
        n: { type: 'number', exclusiveMinimum: 0, multipleOf: 0.5 },
        list: { type: 'array', items: { type: 'integer' }, minItems: 1, uniqueItems: true },
        ref: { $ref: '#/definitions/pos' },
        choice: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
        neither: { not: { type: 'string' } },
        mail: { type: 'string', format: 'email' },
        when: { type: 'string', format: 'date' },
      },
      definitions: { pos: { type: 'integer', minimum: 1 } },
    };
    const cases = [
      { mode: 'fast', tag: 'abc', n: 1.5, list: [1, 2], ref: 3, choice: 'x', neither: 1, mail: 'a@b.co' },
      { mode: 'other', tag: 'ABCD', n: 0, list: [], ref: 0, choice: true, neither: 's', mail: 'nope' },
      { n: 0.7, list: [1, 1, 'x'], when: '2026-13-01' },
      { when: '2026-12-03' },
    ];
    for (const v of cases) expect([v, ours(schema, v)]).toEqual([v, ajvErrors(schema, v)]);
  });

  it('matches Ajv on conditions, combinators, dependencies, tuples and escaped keys', () => {
    const schema = {
      type: 'object',
      properties: {
        kind: { type: 'string' },
        size: { type: 'integer' },
        nested: {
          type: 'object',
          properties: { 'a/b': { type: 'string' }, 'é x': { type: 'integer' } },
          required: ['q'],
        },
        any: { anyOf: [{ type: 'string', minLength: 2 }, { type: 'integer' }] },
        tuple: { type: 'array', items: [{ type: 'string' }, { type: 'integer' }] },
        free: { type: 'object', additionalProperties: { type: 'integer' } },
        pat: { type: 'object', patternProperties: { '^x': { type: 'string' } } },
        c: { const: 3 },
        all: { allOf: [{ minimum: 2 }, { maximum: 5 }] },
      },
      if: { properties: { kind: { const: 'big' } } },
      then: { required: ['size'] },
      dependencies: { size: ['kind', 'nested'] },
    };
    const cases: unknown[] = [
      { kind: 'big' },
      { size: 1 },
      {
        nested: { 'a/b': 1, 'é x': 'z' },
        any: 'x',
        tuple: [1, 'a'],
        free: { k: 'v' },
        pat: { xa: 1 },
        c: 4,
        all: 7,
      },
      { any: true },
    ];
    for (const v of cases) expect([v, ours(schema, v)]).toEqual([v, ajvErrors(schema, v)]);
  });

  it('gives rjsf field errors on the property, as @rjsf/validator-ajv8 does', () => {
    const schema = templates.find((t) => t.name === 'thumbnail')!.paramsSchema;
    const { errorSchema, errors } = schemaValidator.validateFormData({ width: 0 }, schema);
    expect(errors.map((e) => e.property).sort()).toEqual(['.width', 'image']);
    expect(errorSchema).toMatchObject({
      image: { __errors: ["must have required property 'image'"] },
      width: { __errors: ['must be >= 1'] },
    });
    expect(schemaValidator.isValid(schema, { image: 'a', width: 2 }, schema)).toBe(true);
    expect(schemaValidator.isValid(schema, { image: 'a' }, schema)).toBe(false);
  });

  it("takes rjsf's form data as it comes: an emptied field (undefined) is missing, no data is no object", () => {
    const schema = templates.find((t) => t.name === 'thumbnail')!.paramsSchema;
    expect(ours(schema, { image: undefined, width: 2 })).toEqual([
      " required must have required property 'image'",
    ]);
    expect(ours(schema, undefined)).toEqual([' type must be object']);
  });

  it('names a required field by its title, and resolves $refs into the root schema for isValid', () => {
    const root = {
      type: 'object',
      properties: { image: { type: 'string', title: 'Source image' }, n: { $ref: '#/definitions/pos' } },
      required: ['image'],
      definitions: { pos: { type: 'integer', minimum: 1 } },
    };
    const { errors } = schemaValidator.validateFormData({}, root);
    expect(errors.map((e) => e.stack)).toEqual(["must have required property 'Source image'"]);
    const option = { $ref: '#/definitions/pos' };
    expect(schemaValidator.isValid(option, 3, root)).toBe(true);
    expect(schemaValidator.isValid(option, 0, root)).toBe(false);
    // After isValid, validating the root itself still resolves its refs (nothing cached on the schema objects).
    expect(ours(root, { image: 'a', n: 0 })).toEqual(['/n minimum must be >= 1']);
  });

  it('reports a schema it cannot use instead of throwing (the form shows it)', () => {
    const schema = { type: 'object', properties: { a: { $ref: '#/definitions/missing' } } };
    const raw = schemaValidator.rawValidation(schema, { a: 1 });
    expect(raw.validationError).toBeInstanceOf(Error);
    expect(() => schemaValidator.validateFormData({ a: 1 }, schema)).not.toThrow();
    expect(schemaValidator.isValid(schema, { a: 1 }, schema)).toBe(false);
  });
});
