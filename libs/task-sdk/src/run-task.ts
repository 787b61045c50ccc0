import type { z } from 'zod';
import type { TaskDefinition } from './define-task.js';
import type { TaskContext } from './task-context.js';
import { errorMessage, isTaskError, TaskError, truncate } from './task-error.js';

/** Longest progress message the reports stream accepts (NodeReport progress.message). */
export const MAX_PROGRESS_MESSAGE = 2000;

/**
 * Validates input, runs the task and validates its output. Every failure leaves as a TaskError:
 * - input that does not match → INVALID_INPUT, not retryable, the message names the fields;
 * - output that does not match → INVALID_OUTPUT, not retryable (the same code would produce it again);
 * - the signal aborted → its reason when that is a TaskError (the runtime says TIMEOUT, LOCK_LOST...),
 *   else CANCELLED, not retryable;
 * - anything else thrown → TASK_FAILED, retryable.
 */
export async function runTask<I, O>(
  def: TaskDefinition<I, O>,
  rawInput: unknown,
  ctx: TaskContext,
): Promise<O> {
  const input = def.input.safeParse(rawInput);
  if (!input.success) {
    throw new TaskError(
      'INVALID_INPUT',
      `${def.name}@${def.version} input: ${describeIssues(input.error.issues)}`,
      {
        retryable: false,
      },
    );
  }
  if (ctx.signal.aborted) throw abortError(ctx.signal);

  let raw: unknown;
  try {
    raw = await def.run(input.data, guardContext(ctx));
  } catch (e) {
    if (isTaskError(e)) throw e;
    if (ctx.signal.aborted) throw abortError(ctx.signal, e);
    throw new TaskError('TASK_FAILED', `${def.name}@${def.version} failed: ${errorMessage(e)}`, {
      retryable: true,
      cause: e,
    });
  }

  const output = def.output.safeParse(raw);
  if (!output.success) {
    throw new TaskError(
      'INVALID_OUTPUT',
      `${def.name}@${def.version} returned an output that does not match its schema: ${describeIssues(output.error.issues)}`,
      { retryable: false },
    );
  }
  return output.data;
}

/** "width: Too small: expected number to be >=1; format: Invalid option..." */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return truncate(
    issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; '),
    3000,
  );
}

function abortError(signal: AbortSignal, cause?: unknown): TaskError {
  const reason: unknown = signal.reason;
  if (isTaskError(reason)) return reason;
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'cancelled';
  return new TaskError('CANCELLED', `attempt stopped: ${why}`, { retryable: false, cause });
}

/**
 * Normalises a progress update: NaN/Infinity → null (dropped), the fraction clamped to [0, 1], the
 * message trimmed. Progress must never be what fails a task (a flaw of the old system).
 */
export function normaliseProgress(
  fraction: unknown,
  message?: unknown,
): { fraction: number; message?: string } | null {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return null;
  const clamped = Math.min(1, Math.max(0, fraction));
  if (typeof message === 'string' && message.length > 0) {
    return { fraction: clamped, message: truncate(message, MAX_PROGRESS_MESSAGE) };
  }
  return { fraction: clamped };
}

/** The context the task sees: same artifacts/signal, but progress and log can never throw into it. */
function guardContext(ctx: TaskContext): TaskContext {
  const safe =
    (fn: (m: string) => void) =>
    (m: string): void => {
      try {
        fn(typeof m === 'string' ? m : String(m));
      } catch {
        // a log line that cannot be delivered must not fail the task; the runtime reports transport loss itself
      }
    };
  const guarded: Pick<TaskContext, 'progress' | 'log'> = {
    progress(fraction: number, message?: string) {
      const p = normaliseProgress(fraction, message);
      if (!p) return;
      try {
        ctx.progress(p.fraction, p.message);
      } catch {
        // same as logs: progress is advisory
      }
    },
    log: {
      debug: safe((m) => ctx.log.debug(m)),
      info: safe((m) => ctx.log.info(m)),
      warn: safe((m) => ctx.log.warn(m)),
      error: safe((m) => ctx.log.error(m)),
    },
  };
  // The runtime's members copied as property descriptors, not values (a getter of the runtime's context, such
  // as a scratch dir made on first use, stays a getter), in the context's own order; plain data members are
  // assigned. Runs once per attempt, mostly interpreted in a runner (each sees a share of the attempts): copying
  // every descriptor twice and redefining them all was ≈ 10 % of the runner's work per attempt.
  const out: Record<PropertyKey, unknown> = {};
  for (const key of Reflect.ownKeys(ctx)) {
    if (key === 'progress' || key === 'log') {
      out[key] = guarded[key];
      continue;
    }
    const d = Object.getOwnPropertyDescriptor(ctx, key)!;
    const plain = 'value' in d && d.writable && d.enumerable && d.configurable && key !== '__proto__';
    if (plain) out[key] = d.value;
    else Object.defineProperty(out, key, d);
  }
  // a runtime's context without its own progress or log (inherited ones): the guarded ones all the same
  out.progress ??= guarded.progress;
  out.log ??= guarded.log;
  return out as unknown as TaskContext;
}
