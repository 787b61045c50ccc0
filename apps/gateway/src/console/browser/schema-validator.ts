// The submit form's JSON Schema validator, for rjsf, without eval. @rjsf/validator-ajv8 compiles every schema
// with `new Function`, which the console's Content-Security-Policy (`script-src 'self'`, no 'unsafe-eval')
// refuses; @cfworker/json-schema interprets the schema instead (draft-07, as rjsf's Ajv). This file only turns
// its output into the error objects Ajv gives, so rjsf's own processing (field paths, titles) applies unchanged.
import { Validator, type OutputUnit, type Schema } from '@cfworker/json-schema';
import { ROOT_SCHEMA_PREFIX, findSchemaDefinition, withIdRefPrefix, type ValidatorType } from '@rjsf/utils';
import processRawErrors from '@rjsf/validator-ajv8/lib/processRawValidationErrors.js';
import type { ErrorObject } from 'ajv';

// Its generic signature sends tsc into "excessive stack depth" against ValidatorType's; the call is the one
// AJV8Validator.validateFormData makes.
const processRawValidationErrors = processRawErrors as unknown as (
  ...args: unknown[]
) => ReturnType<ValidatorType['validateFormData']>;

type Json = Record<string, unknown>;

/**
 * cfworker's result for `data`. Both get copied: cfworker caches resolved `$ref` URIs on the schema objects it
 * is given (stale once rjsf passes the same objects under another root), and rjsf's form data holds `undefined`
 * for emptied fields (which cfworker refuses; Ajv counts them as missing, so they are dropped).
 */
function check(schema: unknown, data: unknown, root?: unknown) {
  const validator = new Validator(structuredClone(schema) as Schema, '7', false);
  if (root !== undefined) validator.addSchema(structuredClone(root) as Schema, ROOT_SCHEMA_PREFIX);
  return validator.validate(data === undefined ? null : JSON.parse(JSON.stringify(data)));
}

/** The schema object at a keywordLocation such as `#/properties/a/$ref/minimum` (its `$ref`s followed). */
const schemaAt = (location: string, root: Json): unknown =>
  location
    .split('/')
    .slice(1)
    .reduce<unknown>((node, part) => {
      const key = decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~');
      const at = node as Json | undefined;
      return key === '$ref' && typeof at?.$ref === 'string' ? findSchemaDefinition(at.$ref, root) : at?.[key];
    }, root);

// Units that only say "a subschema had errors" ahead of that subschema's own units; Ajv reports only the latter.
const WRAPPERS = new Set(
  (
    '$ref $recursiveRef allOf properties patternProperties additionalProperties unevaluatedProperties ' +
    'propertyNames dependentSchemas items prefixItems additionalItems unevaluatedItems'
  ).split(' '),
);

// Ajv's messages (rjsf puts a field's title in place of `'name'` in the `required` one); others keep cfworker's.
type Message = (value: unknown, params: Json) => string;
const MESSAGES: Record<string, Message> = {
  type: (t) => `must be ${[t].flat().join(',')}`,
  required: (_, p) => `must have required property '${p.missingProperty}'`,
  dependencies: (_, p) =>
    `must have ${p.depsCount === 1 ? 'property' : 'properties'} ${p.deps} when property ${p.property} is present`,
  enum: () => 'must be equal to one of the allowed values',
  const: () => 'must be equal to constant',
  minimum: (l) => `must be >= ${l}`,
  maximum: (l) => `must be <= ${l}`,
  exclusiveMinimum: (l) => `must be > ${l}`,
  exclusiveMaximum: (l) => `must be < ${l}`,
  multipleOf: (m) => `must be multiple of ${m}`,
  minLength: (l) => `must NOT have fewer than ${l} characters`,
  maxLength: (l) => `must NOT have more than ${l} characters`,
  minItems: (l) => `must NOT have fewer than ${l} items`,
  maxItems: (l) => `must NOT have more than ${l} items`,
  minProperties: (l) => `must NOT have fewer than ${l} properties`,
  maxProperties: (l) => `must NOT have more than ${l} properties`,
  uniqueItems: (_, p) => `must NOT have duplicate items (items ## ${p.j} and ${p.i} are identical)`,
  pattern: (p) => `must match pattern "${p}"`,
  format: (f) => `must match format "${f}"`,
  additionalProperties: () => 'must NOT have additional properties',
  'false schema': () => 'boolean schema is false',
  not: () => 'must NOT be valid',
  anyOf: () => 'must match a schema in anyOf',
  oneOf: () => 'must match exactly one schema in oneOf',
  if: (_, p) => `must match "${p.failingKeyword}" schema`,
};

/**
 * What Ajv puts in `params` that cfworker only says in its message (rjsf moves required errors onto the field);
 * `value` is the keyword's value in the schema.
 */
function paramsOf(unit: OutputUnit, value: unknown): Json {
  const quoted = [...unit.error.matchAll(/"(.*?)"/g)].map((m) => m[1]);
  switch (unit.keyword) {
    case 'required':
      return { missingProperty: /"(.*)"\.$/.exec(unit.error)?.[1] };
    case 'dependencies':
    case 'dependentRequired': {
      const deps = ((value as Json | undefined)?.[quoted[0]!] as string[] | undefined) ?? [quoted[1]];
      return {
        property: quoted[0],
        missingProperty: quoted[1],
        depsCount: deps.length,
        deps: deps.join(', '),
      };
    }
    case 'uniqueItems': {
      const [i, j] = (unit.error.match(/\d+/g) ?? []).map(Number);
      return { i, j };
    }
    case 'if':
      return { failingKeyword: quoted[0] };
    default:
      return {};
  }
}

/** cfworker's output units as Ajv's errors: the leaves only, one per failed keyword at the place Ajv puts it. */
function toAjvErrors(units: OutputUnit[], root: Json): ErrorObject[] {
  return units.flatMap((unit, i) => {
    const before = units[i - 1];
    let { keyword, keywordLocation, instanceLocation } = unit;
    let params = paramsOf(unit, schemaAt(keywordLocation, root));
    if (keyword === 'false' && before?.keyword === 'additionalProperties') {
      // additionalProperties: false gives a wrapper and a false-schema unit at the extra key; Ajv: one error on the object.
      ({ keyword, keywordLocation, instanceLocation } = before);
      params = { additionalProperty: decodeURIComponent(unit.instanceLocation.split('/').pop()!) };
    } else if (WRAPPERS.has(keyword) || (keyword === 'dependencies' && params.missingProperty === undefined))
      return [];
    if (keyword === 'false') keyword = 'false schema';
    const path = keywordLocation.split('/');
    return [
      {
        instancePath: decodeURIComponent(instanceLocation.slice(1)),
        // cfworker gives a false schema's instance location as its keywordLocation
        schemaPath: unit.keyword === 'false' ? '' : keywordLocation,
        keyword,
        params,
        message: MESSAGES[keyword]?.(schemaAt(keywordLocation, root), params) ?? unit.error,
        parentSchema:
          unit.keyword === 'false' ? {} : (schemaAt(path.slice(0, -1).join('/'), root) as Json | undefined),
      },
    ];
  });
}

/** rjsf's ValidatorType over cfworker: the same error objects as @rjsf/validator-ajv8, so the same field errors. */
export const schemaValidator: ValidatorType = {
  validateFormData(formData, schema, customValidate, transformErrors, uiSchema) {
    return processRawValidationErrors(
      schemaValidator,
      schemaValidator.rawValidation(schema, formData),
      formData,
      schema,
      customValidate,
      transformErrors,
      uiSchema,
    );
  },
  // A schema it cannot use (an unresolved $ref, a pattern this browser cannot read) is reported, not thrown: rjsf
  // shows validationError on the form, as it shows Ajv's compile errors.
  rawValidation<Result = unknown>(schema: object, formData?: unknown) {
    try {
      return { errors: toAjvErrors(check(schema, formData).errors, schema as Json) as Result[] };
    } catch (e) {
      return { validationError: e instanceof Error ? e : new Error(String(e)) };
    }
  },
  // rjsf asks this of parts of the schema (oneOf/anyOf options, if): their `#/…` refs point into the root, as
  // AJV8Validator resolves them (the root added under rjsf's prefix).
  isValid(schema, formData, rootSchema) {
    try {
      return check(withIdRefPrefix(schema), formData, rootSchema).valid;
    } catch {
      return false;
    }
  },
};
