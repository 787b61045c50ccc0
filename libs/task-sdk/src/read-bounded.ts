import type { TaskContext } from './task-context.js';
import { TaskError } from './task-error.js';

/**
 * Reads an artifact into memory only when its recorded size is at most `maxBytes`: an oversized input
 * is refused (INVALID_INPUT, not retryable) before a single byte is read, so it cannot exhaust the
 * runner's memory.
 */
export async function readBounded(
  ctx: Pick<TaskContext, 'artifacts'>,
  artifactId: string,
  maxBytes: number,
  what = `artifact ${artifactId}`,
): Promise<Buffer> {
  await assertArtifactSize(ctx, artifactId, maxBytes, what);
  return ctx.artifacts.read(artifactId);
}

/** Refuses (INVALID_INPUT) an artifact whose recorded size is over `maxBytes`; resolves to its size. */
export async function assertArtifactSize(
  ctx: Pick<TaskContext, 'artifacts'>,
  artifactId: string,
  maxBytes: number,
  what = `artifact ${artifactId}`,
): Promise<number> {
  const { size } = await ctx.artifacts.stat(artifactId);
  if (size > maxBytes) {
    throw new TaskError('INVALID_INPUT', `${what} is ${size} bytes; this task reads at most ${maxBytes}`, {
      retryable: false,
    });
  }
  return size;
}
