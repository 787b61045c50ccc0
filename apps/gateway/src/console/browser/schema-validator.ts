// The submit form's JSON Schema validator, for rjsf, without eval. @rjsf/validator-ajv8 compiles every schema
// with `new Function`, which the console's Content-Security-Policy (`script-src 'self'`, no 'unsafe-eval')
// refuses. This one interprets the schema. It knows the keywords a template's paramsSchema uses for its fields
// (below) and ignores the others (`format`, …): it only gives field-level errors before a request; the API
// validates the params with Ajv and refuses with BAD_USER_INPUT / INVALID_GRAPH, which the form shows.
import type { RJSFSchema, ValidatorType } from '@rjsf/utils';
import processRawErrors from '@rjsf/validator-ajv8/lib/processRawValidationErrors.js';

// Its generic signature sends tsc into "excessive stack depth" against ValidatorType's; the call is the one
// AJV8Validator.validateFormData makes.
const processRawValidationErrors = processRawErrors as unknown as (
  ...args: unknown[]
) => ReturnType<ValidatorType['validateFormData']>;

type Schema = Record<string, unknown> | boolean;

/** An error shaped as Ajv reports one, so rjsf's own processing (field paths, titles) applies unchanged. */
export interface SchemaError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message: string;
  parentSchema: Record<string, unknown>;
}

const typeOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? 'number' : typeof v;

function hasType(v: unknown, t: string): boolean {
  if (t === 'integer') return typeof v === 'number' && Number.isInteger(v);
  if (t === 'number') return typeof v === 'number' && Number.isFinite(v);
  return typeOf(v) === t;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
/** Characters as JSON Schema counts them (code points, as Ajv's `unicode` default). */
const length = (s: string) => [...s].length;

function resolveRef(ref: string, root: Schema): Schema {
  if (!ref.startsWith('#')) return true; // remote refs: not followed here (the API checks)
  let at: unknown = root;
  for (const part of ref.slice(1).split('/').filter(Boolean)) {
    const key = decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~');
    at = (at as Record<string, unknown> | undefined)?.[key];
  }
  return at === undefined ? true : (at as Schema);
}

/** Validates `value` against `schema`; `root` resolves local `$ref`s. Returns every error found (allErrors). */
export function validate(schema: Schema, value: unknown, root: Schema = schema): SchemaError[] {
  const errors: SchemaError[] = [];
  walk(schema, value, root, '', '#', errors, 0);
  return errors;
}

function walk(
  schema: Schema,
  v: unknown,
  root: Schema,
  at: string,
  sp: string,
  out: SchemaError[],
  depth: number,
): void {
  if (schema === true) return;
  if (depth > 64) return; // a $ref cycle: stop rather than overflow the stack
  const s = schema === false ? {} : schema;
  const fail = (keyword: string, params: Record<string, unknown>, message: string, path = at) =>
    out.push({
      instancePath: path,
      schemaPath: `${sp}/${keyword}`,
      keyword,
      params,
      message,
      parentSchema: s,
    });
  if (schema === false) return void fail('false schema', {}, 'boolean schema is false');
  if (typeof s.$ref === 'string') walk(resolveRef(s.$ref, root), v, root, at, `${sp}/$ref`, out, depth + 1);

  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => hasType(v, t)))
      return void fail('type', { type: types.join(',') }, `must be ${types.join(',')}`);
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => equal(e, v)))
    fail('enum', { allowedValues: s.enum }, 'must be equal to one of the allowed values');
  if ('const' in s && !equal(s.const, v))
    fail('const', { allowedValue: s.const }, 'must be equal to constant');

  if (typeof v === 'number') {
    const bound = (keyword: string, limit: unknown, ok: (l: number) => boolean, comparison: string) =>
      typeof limit === 'number' &&
      !ok(limit) &&
      fail(keyword, { comparison, limit }, `must be ${comparison} ${limit}`);
    bound('minimum', s.minimum, (l) => v >= l, '>=');
    bound('maximum', s.maximum, (l) => v <= l, '<=');
    bound('exclusiveMinimum', s.exclusiveMinimum, (l) => v > l, '>');
    bound('exclusiveMaximum', s.exclusiveMaximum, (l) => v < l, '<');
    if (typeof s.multipleOf === 'number' && s.multipleOf > 0) {
      const q = v / s.multipleOf;
      if (Math.abs(q - Math.round(q)) > 1e-9)
        fail('multipleOf', { multipleOf: s.multipleOf }, `must be multiple of ${s.multipleOf}`);
    }
  }

  if (typeof v === 'string') {
    if (typeof s.minLength === 'number' && length(v) < s.minLength)
      fail('minLength', { limit: s.minLength }, `must NOT have fewer than ${s.minLength} characters`);
    if (typeof s.maxLength === 'number' && length(v) > s.maxLength)
      fail('maxLength', { limit: s.maxLength }, `must NOT have more than ${s.maxLength} characters`);
    if (typeof s.pattern === 'string') {
      let re: RegExp | null = null;
      try {
        re = new RegExp(s.pattern, 'u');
      } catch {
        // a pattern this browser cannot read: the API decides
      }
      if (re && !re.test(v)) fail('pattern', { pattern: s.pattern }, `must match pattern "${s.pattern}"`);
    }
  }

  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems)
      fail('minItems', { limit: s.minItems }, `must NOT have fewer than ${s.minItems} items`);
    if (typeof s.maxItems === 'number' && v.length > s.maxItems)
      fail('maxItems', { limit: s.maxItems }, `must NOT have more than ${s.maxItems} items`);
    if (s.uniqueItems === true)
      for (let j = 1; j < v.length; j++) {
        const i = v.findIndex((x, k) => k < j && equal(x, v[j]));
        if (i >= 0) {
          fail(
            'uniqueItems',
            { i, j },
            `must NOT have duplicate items (items ## ${j} and ${i} are identical)`,
          );
          break;
        }
      }
    if (Array.isArray(s.items))
      s.items.forEach((item, i) => {
        if (i < v.length) walk(item as Schema, v[i], root, `${at}/${i}`, `${sp}/items/${i}`, out, depth + 1);
      });
    else if (s.items !== undefined)
      v.forEach((x, i) => walk(s.items as Schema, x, root, `${at}/${i}`, `${sp}/items`, out, depth + 1));
  }

  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    if (Array.isArray(s.required))
      for (const name of s.required as string[])
        if (o[name] === undefined)
          fail('required', { missingProperty: name }, `must have required property '${name}'`);
    const keys = Object.keys(o).filter((k) => o[k] !== undefined);
    if (typeof s.minProperties === 'number' && keys.length < s.minProperties)
      fail(
        'minProperties',
        { limit: s.minProperties },
        `must NOT have fewer than ${s.minProperties} properties`,
      );
    if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties)
      fail(
        'maxProperties',
        { limit: s.maxProperties },
        `must NOT have more than ${s.maxProperties} properties`,
      );
    const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, Schema>).flatMap(
      ([p, ps]) => {
        try {
          return [[new RegExp(p, 'u'), ps, p] as const];
        } catch {
          return [];
        }
      },
    );
    for (const k of keys) {
      const child = `${at}/${pointer(k)}`;
      let known = false;
      if (Object.hasOwn(props, k)) {
        known = true;
        walk(props[k]!, o[k], root, child, `${sp}/properties/${pointer(k)}`, out, depth + 1);
      }
      for (const [re, ps, p] of patterns)
        if (re.test(k)) {
          known = true;
          walk(ps, o[k], root, child, `${sp}/patternProperties/${pointer(p)}`, out, depth + 1);
        }
      if (known) continue;
      if (s.additionalProperties === false)
        fail('additionalProperties', { additionalProperty: k }, 'must NOT have additional properties');
      else if (typeof s.additionalProperties === 'object')
        walk(
          s.additionalProperties as Schema,
          o[k],
          root,
          child,
          `${sp}/additionalProperties`,
          out,
          depth + 1,
        );
    }
    const deps = { ...(s.dependentRequired as object), ...(s.dependencies as object) } as Record<
      string,
      unknown
    >;
    for (const [k, dep] of Object.entries(deps)) {
      if (o[k] === undefined) continue;
      if (Array.isArray(dep)) {
        const missing = (dep as string[]).filter((d) => o[d] === undefined);
        if (missing.length)
          fail(
            'dependencies',
            { property: k, missingProperty: missing[0], depsCount: dep.length, deps: dep.join(', ') },
            `must have ${dep.length === 1 ? 'property' : 'properties'} ${dep.join(', ')} when property ${k} is present`,
          );
      } else walk(dep as Schema, v, root, at, `${sp}/dependencies/${pointer(k)}`, out, depth + 1);
    }
  }

  const sub = (x: Schema) => validate(x, v, root).length === 0;
  if (Array.isArray(s.allOf))
    s.allOf.forEach((x, i) => walk(x as Schema, v, root, at, `${sp}/allOf/${i}`, out, depth + 1));
  // As Ajv: when no branch passes, each branch's errors too (rjsf keeps the first of duplicates).
  const branches = (keyword: 'anyOf' | 'oneOf') =>
    (s[keyword] as Schema[]).map((x, i) => {
      const found: SchemaError[] = [];
      walk(x, v, root, at, `${sp}/${keyword}/${i}`, found, depth + 1);
      return found;
    });
  if (Array.isArray(s.anyOf)) {
    const results = branches('anyOf');
    if (!results.some((r) => r.length === 0)) {
      out.push(...results.flat());
      fail('anyOf', {}, 'must match a schema in anyOf');
    }
  }
  if (Array.isArray(s.oneOf)) {
    const results = branches('oneOf');
    const passing = results.filter((r) => r.length === 0).length;
    if (passing === 0) out.push(...results.flat());
    if (passing !== 1) fail('oneOf', { passingSchemas: null }, 'must match exactly one schema in oneOf');
  }
  if (s.not !== undefined && sub(s.not as Schema)) fail('not', {}, 'must NOT be valid');
  if (s.if !== undefined) {
    const branch = sub(s.if as Schema) ? 'then' : 'else';
    if (s[branch] !== undefined) walk(s[branch] as Schema, v, root, at, `${sp}/${branch}`, out, depth + 1);
  }
}

/** rjsf's ValidatorType over `validate`: the same error objects as @rjsf/validator-ajv8, so the same field errors. */
export const schemaValidator: ValidatorType = {
  validateFormData(formData, schema, customValidate, transformErrors, uiSchema) {
    return processRawValidationErrors(
      schemaValidator,
      { errors: validate(schema as Schema, formData) as never },
      formData,
      schema,
      customValidate,
      transformErrors,
      uiSchema,
    );
  },
  isValid(schema, formData, rootSchema) {
    return validate(schema as Schema, formData, rootSchema as Schema).length === 0;
  },
  rawValidation<Result = unknown>(schema: RJSFSchema, formData?: unknown) {
    return { errors: validate(schema as Schema, formData) as Result[] };
  },
};
