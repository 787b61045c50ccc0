import { z } from 'zod';
import { artifactId } from '#libs/task-sdk';

/*
 * The input schema an operator may declare for a command task: a small, closed subset of JSON Schema
 * (an object of scalar or scalar-array fields). It is turned into zod, and the advertised JSON Schema
 * is generated back from that zod, so the worker and the planner enforce the same rules.
 */

const described = { description: z.string().max(2000).optional() };

const StringField = z.strictObject({
  type: z.literal('string'),
  ...described,
  minLength: z.int().min(0).optional(),
  maxLength: z.int().min(0).optional(),
  pattern: z
    .string()
    .refine(
      compilesAsUnicodeRegExp,
      'pattern must be a valid regular expression (ajv compiles it with the u flag)',
    )
    .optional(),
  enum: z.array(z.string()).min(1).optional(),
  /** The value is an artifact id (other string rules ignored); the artifact is downloaded into SWITCHYARD_INPUT_DIR/<field>. */
  artifact: z.boolean().optional(),
});
const IntegerField = z.strictObject({
  type: z.literal('integer'),
  ...described,
  minimum: z.int().optional(),
  maximum: z.int().optional(),
  enum: z.array(z.int()).min(1).optional(),
});
const NumberField = z.strictObject({
  type: z.literal('number'),
  ...described,
  minimum: z.number().optional(),
  maximum: z.number().optional(),
  exclusiveMinimum: z.number().optional(),
  exclusiveMaximum: z.number().optional(),
});
const BooleanField = z.strictObject({ type: z.literal('boolean'), ...described });
const ScalarField = z.discriminatedUnion('type', [
  StringField.omit({ artifact: true }),
  IntegerField,
  NumberField,
  BooleanField,
]);
const ArrayField = z.strictObject({
  type: z.literal('array'),
  ...described,
  items: ScalarField,
  minItems: z.int().min(0).optional(),
  maxItems: z.int().min(0).optional(),
});

export const InputField = z.discriminatedUnion('type', [
  StringField,
  IntegerField,
  NumberField,
  BooleanField,
  ArrayField,
]);
export type InputField = z.infer<typeof InputField>;

export const RestrictedInputSchema = z
  .strictObject({
    type: z.literal('object'),
    properties: z.record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'field names are identifiers'),
      InputField,
    ),
    required: z.array(z.string()).optional(),
    additionalProperties: z.literal(false).optional(), // unknown fields are always refused
  })
  .superRefine((s, ctx) => {
    for (const name of s.required ?? []) {
      if (!(name in s.properties))
        ctx.addIssue({ code: 'custom', path: ['required'], message: `"${name}" is not a property` });
    }
  });
export type RestrictedInputSchema = z.infer<typeof RestrictedInputSchema>;

function compilesAsUnicodeRegExp(pattern: string): boolean {
  try {
    new RegExp(pattern, 'u');
    return true;
  } catch {
    return false;
  }
}

function scalarToZod(field: z.infer<typeof ScalarField>): z.ZodType {
  switch (field.type) {
    case 'string': {
      if (field.enum) return withDescription(z.enum(field.enum as [string, ...string[]]), field.description);
      let s = z.string();
      if (field.minLength !== undefined) s = s.min(field.minLength);
      if (field.maxLength !== undefined) s = s.max(field.maxLength);
      if (field.pattern !== undefined) s = s.regex(new RegExp(field.pattern, 'u'));
      return withDescription(s, field.description);
    }
    case 'integer': {
      if (field.enum) return withDescription(z.literal(field.enum), field.description);
      let n = z.int();
      if (field.minimum !== undefined) n = n.min(field.minimum);
      if (field.maximum !== undefined) n = n.max(field.maximum);
      return withDescription(n, field.description);
    }
    case 'number': {
      let n = z.number();
      if (field.minimum !== undefined) n = n.gte(field.minimum);
      if (field.maximum !== undefined) n = n.lte(field.maximum);
      if (field.exclusiveMinimum !== undefined) n = n.gt(field.exclusiveMinimum);
      if (field.exclusiveMaximum !== undefined) n = n.lt(field.exclusiveMaximum);
      return withDescription(n, field.description);
    }
    case 'boolean':
      return withDescription(z.boolean(), field.description);
  }
}

function fieldToZod(field: InputField): z.ZodType {
  if (field.type === 'string' && field.artifact) {
    return withDescription(artifactId(), field.description ?? 'artifact id');
  }
  if (field.type !== 'array') {
    const { artifact: _artifact, ...scalar } = field as InputField & { artifact?: boolean };
    return scalarToZod(scalar as z.infer<typeof ScalarField>);
  }
  let a = z.array(scalarToZod(field.items));
  if (field.minItems !== undefined) a = a.min(field.minItems);
  if (field.maxItems !== undefined) a = a.max(field.maxItems);
  return withDescription(a, field.description);
}

const withDescription = <T extends z.ZodType>(t: T, description?: string): T =>
  description === undefined ? t : t.describe(description);

/** The zod schema (strict object) of a declared input schema. */
export function restrictedSchemaToZod(schema: RestrictedInputSchema): z.ZodType<Record<string, unknown>> {
  const required = new Set(schema.required ?? []);
  const shape: Record<string, z.ZodType> = {};
  for (const [name, field] of Object.entries(schema.properties)) {
    const t = fieldToZod(field);
    shape[name] = required.has(name) ? t : t.optional();
  }
  return z.strictObject(shape) as unknown as z.ZodType<Record<string, unknown>>;
}

/** Names of the string fields marked `artifact: true`. */
export function artifactInputFields(schema: RestrictedInputSchema): string[] {
  return Object.entries(schema.properties)
    .filter(([, f]) => f.type === 'string' && f.artifact === true)
    .map(([name]) => name);
}
