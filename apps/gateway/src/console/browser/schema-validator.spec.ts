import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { REPO_ROOT } from '#libs/testing';
import { schemaValidator, validate } from './schema-validator.js';

const templates = readdirSync(join(REPO_ROOT, 'templates'))
  .filter((f) => f.endsWith('.json'))
  .map(
    (f) =>
      JSON.parse(readFileSync(join(REPO_ROOT, 'templates', f), 'utf8')) as {
        name: string;
        paramsSchema: object;
      },
  );

/** Ajv as the jobs subgraph runs it: every error, strict off (templates may carry annotations). */
const ajv = new Ajv({ allErrors: true, strict: false });
const ajvErrors = (schema: object, value: unknown) => {
  const check = ajv.compile(schema);
  check(value);
  return (check.errors ?? []).map((e) => `${e.instancePath} ${e.keyword} ${e.message}`).sort();
};
const ours = (schema: object, value: unknown) =>
  validate(schema, value)
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

  it('matches Ajv on the other keywords it knows', () => {
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
      },
      definitions: { pos: { type: 'integer', minimum: 1 } },
    };
    const cases = [
      { mode: 'fast', tag: 'abc', n: 1.5, list: [1, 2], ref: 3, choice: 'x', neither: 1 },
      { mode: 'other', tag: 'ABCD', n: 0, list: [], ref: 0, choice: true, neither: 's' },
      { n: 0.7, list: [1, 1, 'x'] },
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
});
