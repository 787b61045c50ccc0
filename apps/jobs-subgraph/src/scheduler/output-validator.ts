import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Redis } from 'ioredis';
import { canonicalJson, JsonSchema, parseContract } from '#libs/contracts';
import { JOB_KEYS } from './keys.js';
import type { StoredNode } from './job-record.js';

// ajv-formats is CommonJS: its default export arrives wrapped under ESM
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  a: Ajv,
) => Ajv;

/**
 * Validates a task's outputs against the output schema recorded at plan time: by the node's `outputSchemaRef`
 * (the schema is read from JOB_KEYS.outputSchemas once per ref and compiled once), or inline for nodes written
 * before refs.
 */
export class OutputValidator {
  private readonly ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly redis: Redis) {}

  /** Problems as "path: message", empty when the outputs are valid. */
  async check(
    node: Pick<StoredNode, 'outputSchemaRef' | 'outputSchema'>,
    outputs: unknown,
  ): Promise<string[]> {
    const validate = node.outputSchemaRef
      ? (this.compiled.get(`ref:${node.outputSchemaRef}`) ?? (await this.compileRef(node.outputSchemaRef)))
      : this.compileInline(node.outputSchema ?? {});
    if (validate(outputs)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? 'invalid'}`);
  }

  private async compileRef(ref: string): Promise<ValidateFunction> {
    const json = await this.redis.hget(JOB_KEYS.outputSchemas, ref);
    // written with the node in one step and never deleted: missing means Redis lost data (the report is retried)
    if (json === null) throw new Error(`output schema ${ref} is missing from ${JOB_KEYS.outputSchemas}`);
    const validate = this.ajv.compile(parseContract(JsonSchema, 'JsonSchema', JSON.parse(json)));
    this.compiled.set(`ref:${ref}`, validate);
    return validate;
  }

  private compileInline(schema: JsonSchema): ValidateFunction {
    const key = canonicalJson(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.compiled.set(key, validate);
    }
    return validate;
  }
}
