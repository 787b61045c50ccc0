import { z } from 'zod';
import type { JsonSchema } from '#libs/contracts';

/**
 * JSON Schema of a zod schema, as the planner (ajv) will enforce it.
 *
 * - draft-07 keywords, without `$schema`, so both `new Ajv()` and `new Ajv2020()` compile it;
 * - `io: 'input'` for task inputs: fields with a default are optional, exactly as zod accepts them;
 * - objects must be strict (z.strictObject): a plain z.object would strip unknown keys in zod but
 *   allow them in JSON Schema, and the two planes would disagree. `assertStrictObjects` refuses that.
 */
export function toTaskJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, { target: 'draft-7', io, unrepresentable: 'throw' }) as Record<
    string,
    unknown
  >;
  delete json.$schema;
  assertStrictObjects(json, '(root)');
  return json;
}

function assertStrictObjects(node: unknown, path: string): void {
  if (Array.isArray(node)) {
    node.forEach((n, i) => assertStrictObjects(n, `${path}[${i}]`));
    return;
  }
  if (!node || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  if (obj.type === 'object' && obj.properties && obj.additionalProperties === undefined) {
    throw new Error(
      `schema at ${path} is an open object: use z.strictObject so unknown fields are refused in both planes`,
    );
  }
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'properties' && value && typeof value === 'object') {
      for (const [prop, sub] of Object.entries(value as Record<string, unknown>))
        assertStrictObjects(sub, `${path}.${prop}`);
    } else if (key !== 'enum' && key !== 'const' && key !== 'default') {
      assertStrictObjects(value, path);
    }
  }
}
