import { Ajv } from 'ajv';
import type { TaskDefinition } from './define-task.js';

export interface AgreementMismatch {
  side: 'input' | 'output';
  sample: unknown;
  zod: boolean;
  jsonSchema: boolean;
}

/**
 * Compares, on given samples, what the task's zod schemas accept with what its advertised JSON Schemas
 * accept under ajv (as the planner compiles them). Empty result = both planes agree on every sample.
 */
export function schemaDisagreements(
  def: TaskDefinition,
  samples: { input?: unknown[]; output?: unknown[] },
): AgreementMismatch[] {
  const ajv = new Ajv({ strict: true, allErrors: true });
  const manifest = def.manifest();
  const out: AgreementMismatch[] = [];
  for (const side of ['input', 'output'] as const) {
    const validate = ajv.compile(side === 'input' ? manifest.inputSchema : manifest.outputSchema);
    const zod = side === 'input' ? def.input : def.output;
    for (const sample of samples[side] ?? []) {
      const z = zod.safeParse(sample).success;
      const j = validate(structuredClone(sample)) === true;
      if (z !== j) out.push({ side, sample, zod: z, jsonSchema: j });
    }
  }
  return out;
}
