import { jobErrorMessage, type JobError, type JobErrorCode } from '#libs/contracts';

/**
 * The error a task (or the SDK around it) throws to fail an attempt. It says whether a retry can help:
 * bad input never can, a flaky dependency may.
 */
export class TaskError extends Error {
  readonly code: JobErrorCode;
  readonly retryable: boolean;

  constructor(code: JobErrorCode, message: string, opts: { retryable: boolean; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TaskError';
    this.code = code;
    this.retryable = opts.retryable;
  }

  /** The wire form (JobError in #libs/contracts), message trimmed to what the contract allows. */
  toJobError(): JobError {
    return { code: this.code, message: jobErrorMessage(this.message, this.code), retryable: this.retryable };
  }
}

export const isTaskError = (e: unknown): e is TaskError => e instanceof TaskError;

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A readable message for anything thrown. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}
