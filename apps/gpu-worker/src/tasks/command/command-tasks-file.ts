import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Resources, SemVer, TaskName } from '#libs/contracts';
import { RestrictedInputSchema } from './restricted-input-schema.js';

/**
 * One operator-declared command task (WORKER_COMMAND_TASKS_FILE). The argv is fixed here: callers only
 * choose input values, which reach the command as a JSON file, never as arguments or shell text.
 */
export const CommandTaskDeclaration = z.strictObject({
  name: TaskName,
  version: SemVer,
  description: z.string().max(2000).optional(),
  argv: z.array(z.string().min(1)).min(1),
  input: RestrictedInputSchema,
  resources: Resources,
  timeoutMs: z.int().positive(),
  attempts: z.int().min(1).max(20),
  /** Working directory of the command; default: the attempt's work dir. */
  cwd: z.string().min(1).optional(),
  /** Extra environment for the command (the worker's own environment is not passed on). */
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
});
export type CommandTaskDeclaration = z.infer<typeof CommandTaskDeclaration>;

export const CommandTasksFile = z.strictObject({ tasks: z.array(CommandTaskDeclaration) });

/** Thrown at boot for a missing or invalid command tasks file; the worker must not start half-configured. */
export class CommandTasksFileError extends Error {
  readonly code = 'INVALID_COMMAND_TASKS_FILE';
  constructor(file: string, message: string) {
    super(`command tasks file ${file}: ${message}`);
    this.name = 'CommandTasksFileError';
  }
}

export function readCommandTasksFile(file: string): CommandTaskDeclaration[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CommandTasksFileError(file, (e as Error).message);
  }
  const parsed = CommandTasksFile.safeParse(raw);
  if (!parsed.success) {
    throw new CommandTasksFileError(
      file,
      parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; '),
    );
  }
  return parsed.data.tasks;
}
