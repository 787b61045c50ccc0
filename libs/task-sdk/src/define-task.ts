import type { z } from 'zod';
import { parseContract, Resources, SemVer, schemaHash, TaskManifest, TaskName } from '#libs/contracts';
import type { TaskContext } from './task-context.js';
import { toTaskJsonSchema } from './json-schema.js';

export interface TaskSpec<I, O> {
  /** Dotted lowercase name, e.g. "image.resize". */
  name: string;
  /** Semver, e.g. "1.0.0". */
  version: string;
  description?: string;
  resources: Resources;
  /** Must be z.strictObject(...) so zod and the planner's JSON Schema agree on unknown fields. */
  input: z.ZodType<I>;
  output: z.ZodType<O>;
  /** Start-to-close timeout of one attempt, unless the node overrides it. */
  timeoutMs: number;
  /**
   * The shortest timeout that can make sense (e.g. model training): the planner refuses a node whose
   * `timeoutSeconds` is lower, instead of letting it burn attempts and runners. Must not exceed timeoutMs.
   */
  minTimeoutSeconds?: number;
  /** Default attempts of a node running this task (first try included). */
  attempts: number;
  /** Output fields that hold artifact ids. */
  artifactFields?: string[];
  run(input: I, ctx: TaskContext): Promise<O>;
}

export interface TaskDefinition<I = unknown, O = unknown> extends TaskSpec<I, O> {
  artifactFields: string[];
  /** What the worker advertises: JSON Schemas (from zod) and their hash. Computed once. */
  manifest(): TaskManifest;
}

/** Thrown at boot for a task definition that cannot be advertised (bad name, version, schema...). */
export class TaskDefinitionError extends Error {
  readonly code = 'INVALID_TASK_DEFINITION';
  constructor(task: string, message: string) {
    super(`task ${task}: ${message}`);
    this.name = 'TaskDefinitionError';
  }
}

/**
 * Declares a task. Everything checkable without running it is checked here, so a worker with a bad
 * definition refuses to boot instead of advertising something the planner cannot trust.
 */
export function defineTask<I, O>(spec: TaskSpec<I, O>): TaskDefinition<I, O> {
  const id = `${spec.name}@${spec.version}`;
  const fail = (message: string): never => {
    throw new TaskDefinitionError(id, message);
  };
  let manifest: TaskManifest;
  try {
    parseContract(TaskName, 'name', spec.name);
    parseContract(SemVer, 'version', spec.version);
    const inputSchema = toTaskJsonSchema(spec.input, 'input');
    const outputSchema = toTaskJsonSchema(spec.output, 'output');
    const artifactFields = spec.artifactFields ?? [];
    const outputProps = (outputSchema.properties ?? {}) as Record<string, { type?: unknown }>;
    for (const field of artifactFields) {
      const prop = outputProps[field];
      if (!prop) fail(`artifact field "${field}" is not an output field`);
      const t = prop!.type;
      if (t !== 'string' && t !== 'array')
        fail(`artifact field "${field}" must be a string or an array of strings`);
    }
    if (spec.minTimeoutSeconds !== undefined && spec.minTimeoutSeconds * 1000 > spec.timeoutMs)
      fail(
        `minTimeoutSeconds (${spec.minTimeoutSeconds}) is above the default timeout (${spec.timeoutMs} ms)`,
      );
    manifest = parseContract(TaskManifest, `TaskManifest ${id}`, {
      name: spec.name,
      version: spec.version,
      ...(spec.description === undefined ? {} : { description: spec.description }),
      inputSchema,
      outputSchema,
      schemaHash: schemaHash(inputSchema, outputSchema),
      resources: parseContract(Resources, `resources of ${id}`, spec.resources),
      timeoutMs: spec.timeoutMs,
      ...(spec.minTimeoutSeconds === undefined ? {} : { minTimeoutSeconds: spec.minTimeoutSeconds }),
      attempts: spec.attempts,
      artifactFields,
    });
  } catch (e) {
    if (e instanceof TaskDefinitionError) throw e;
    throw new TaskDefinitionError(id, e instanceof Error ? e.message : String(e));
  }
  const frozen = Object.freeze(manifest);
  return {
    ...spec,
    artifactFields: [...frozen.artifactFields],
    manifest: () => structuredClone(frozen),
  };
}
