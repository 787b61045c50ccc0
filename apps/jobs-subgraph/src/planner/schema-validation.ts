import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import type { JsonSchema, TaskManifest } from '#libs/contracts';

// ajv-formats is CommonJS: its default import is the plugin function itself at run time.
const addFormats = ajvFormats as unknown as (ajv: Ajv) => Ajv;

/** One reason a value does not match a schema; `path` is the list of keys/indexes to the bad field. */
export interface SchemaIssue {
  path: string[];
  message: string;
  /** The ajv keyword and schema location, used to relate composite (anyOf/oneOf) failures to their branches. */
  keyword: string;
  schemaPath: string;
}

export class SchemaCompileError extends Error {
  constructor(
    readonly key: string,
    cause: unknown,
  ) {
    super(`schema ${key} does not compile: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'SchemaCompileError';
  }
}

export function createAjv(options: Options = {}): Ajv {
  const ajv = new Ajv({ allErrors: true, ...options });
  addFormats(ajv);
  return ajv;
}

/**
 * Compiled validators keyed by a caller-chosen key (a task's schemaHash plus side), so each schema is
 * compiled once per process instead of on every submit. Bounded: the oldest entries are dropped first.
 */
export class SchemaValidatorCache {
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(
    private readonly ajv: Ajv = createAjv({ strict: false }),
    private readonly maxEntries = 2000,
  ) {}

  /** The validator for `schema` under `key`; throws SchemaCompileError when the schema is not valid JSON Schema. */
  get(key: string, schema: JsonSchema): ValidateFunction {
    const cached = this.validators.get(key);
    if (cached) return cached;
    let validate: ValidateFunction;
    try {
      validate = this.ajv.compile(schema);
    } catch (e) {
      throw new SchemaCompileError(key, e);
    }
    if (this.validators.size >= this.maxEntries) this.validators.delete(this.validators.keys().next().value!);
    this.validators.set(key, validate);
    return validate;
  }

  get size(): number {
    return this.validators.size;
  }
}

/** The process-wide cache of task schema validators (worker schemas are not ours: lenient about unknown keywords). */
export const taskSchemaValidators = new SchemaValidatorCache();

export const inputValidatorKey = (task: TaskManifest): string => `${task.schemaHash}:input`;

/** What is wrong with `data` according to `validate`, every problem at once. */
export function schemaIssues(validate: ValidateFunction, data: unknown): SchemaIssue[] {
  if (validate(data)) return [];
  return (validate.errors ?? []).map(toIssue);
}

function toIssue(error: ErrorObject): SchemaIssue {
  const path = error.instancePath === '' ? [] : error.instancePath.slice(1).split('/').map(unescapePointer);
  const params = error.params as {
    missingProperty?: string;
    additionalProperty?: string;
    unevaluatedProperty?: string;
  };
  if (error.keyword === 'required' || error.keyword === 'dependentRequired')
    path.push(params.missingProperty!);
  if (error.keyword === 'additionalProperties') path.push(params.additionalProperty!);
  if (error.keyword === 'unevaluatedProperties') path.push(params.unevaluatedProperty!);
  let message = error.message ?? 'is invalid';
  if (error.keyword === 'required') message = 'is required';
  if (error.keyword === 'additionalProperties') message = 'is not an allowed property';
  if (error.keyword === 'enum')
    message += `: ${JSON.stringify((error.params as { allowedValues: unknown }).allowedValues)}`;
  return { path, message, keyword: error.keyword, schemaPath: error.schemaPath };
}

const unescapePointer = (segment: string): string => segment.replace(/~1/g, '/').replace(/~0/g, '~');

const COMPOSITE_KEYWORDS = new Set(['anyOf', 'oneOf', 'not', 'if', 'then', 'else']);
const KEY_KEYWORDS = new Set(['additionalProperties', 'unevaluatedProperties']);

/** One key per path (segments may hold any character: JSON keeps them apart). */
const pathKey = (segments: readonly string[]): string => JSON.stringify(segments);

/**
 * Drops the issues an output reference causes: a `{ "$ref" }` stands for a value that only exists once
 * its upstream node ran, so it counts as present but is not type-checked literally. A composite
 * failure (anyOf/oneOf/…) goes too when one of its branches failed only because of a reference.
 * Linear in the issues' paths: the references and the branches that failed are looked up in sets (comparing each
 * issue with each reference cost ≈ 0.5 s for a node of 7,000 references inside the body limit).
 */
export function withoutRefIssues(
  issues: SchemaIssue[],
  refPaths: ReadonlyArray<ReadonlyArray<string | number>>,
): SchemaIssue[] {
  if (refPaths.length === 0) return issues;
  const refs = new Set(refPaths.map((p) => pathKey(p.map(String))));
  const causedByRef = (issue: SchemaIssue) => {
    for (let length = 0; length <= issue.path.length; length++)
      if (
        refs.has(pathKey(issue.path.slice(0, length))) &&
        // A reference under a key the schema does not allow is still a bad key.
        !(length === issue.path.length && KEY_KEYWORDS.has(issue.keyword))
      )
        return true;
    return false;
  };
  // every schema location above a branch that failed because of a reference
  const aboveRefIssues = new Set<string>();
  for (const issue of issues) {
    if (!causedByRef(issue)) continue;
    for (
      let slash = issue.schemaPath.indexOf('/');
      slash >= 0;
      slash = issue.schemaPath.indexOf('/', slash + 1)
    )
      aboveRefIssues.add(issue.schemaPath.slice(0, slash));
  }
  return issues.filter(
    (issue) =>
      !causedByRef(issue) && !(COMPOSITE_KEYWORDS.has(issue.keyword) && aboveRefIssues.has(issue.schemaPath)),
  );
}

type SchemaNode = Record<string, unknown>;
const isSchemaNode = (v: unknown): v is SchemaNode =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The subschema that applies at `path` inside a document of `schema`, when it can be found without resolving $refs. */
export function subschemaAt(
  schema: JsonSchema,
  path: ReadonlyArray<string | number>,
): SchemaNode | undefined {
  let node: unknown = schema;
  for (const segment of path) {
    if (!isSchemaNode(node) || node.$ref !== undefined) return undefined;
    if (typeof segment === 'number') {
      const prefixItems = node.prefixItems;
      node = Array.isArray(prefixItems) && segment < prefixItems.length ? prefixItems[segment] : node.items;
    } else {
      const properties = node.properties;
      node =
        isSchemaNode(properties) && Object.hasOwn(properties, segment)
          ? properties[segment]
          : isSchemaNode(node.additionalProperties)
            ? node.additionalProperties
            : undefined;
    }
  }
  return isSchemaNode(node) && node.$ref === undefined ? node : undefined;
}

const typesOf = (schema: SchemaNode | undefined): string[] | undefined => {
  const type = schema?.type;
  if (typeof type === 'string') return [type];
  if (Array.isArray(type) && type.every((t) => typeof t === 'string')) return type as string[];
  return undefined;
};

/**
 * Whether a value produced under `produced` can satisfy `expected`, judged by their `type` keywords
 * only; unknown types count as compatible (we refuse only what certainly cannot work).
 */
export function typesCompatible(produced: SchemaNode | undefined, expected: SchemaNode | undefined): boolean {
  const out = typesOf(produced);
  const want = typesOf(expected);
  if (!out || !want) return true;
  return out.some(
    (t) =>
      want.includes(t) ||
      (t === 'integer' && want.includes('number')) ||
      (t === 'number' && want.includes('integer')),
  );
}

export const describeTypes = (schema: SchemaNode | undefined): string =>
  typesOf(schema)?.join(' | ') ?? 'any';
