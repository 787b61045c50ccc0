import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { canonicalJson, type JsonSchema } from '#libs/contracts';

// ajv-formats is CommonJS: its default export arrives wrapped under ESM
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  a: Ajv,
) => Ajv;

/** Validates a task's outputs against the output schema recorded with the node at plan time. */
export class OutputValidator {
  private readonly ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
  private readonly compiled = new Map<string, ValidateFunction>();

  /** Problems as "path: message", empty when the outputs are valid. */
  check(schema: JsonSchema, outputs: unknown): string[] {
    const key = canonicalJson(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.compiled.set(key, validate);
    }
    if (validate(outputs)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? 'invalid'}`);
  }
}
