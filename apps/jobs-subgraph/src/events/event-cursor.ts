import { DomainError } from '#libs/errors';

/** A cursor names one event of one job: opaque to clients, `after` resumes right after it. */
export const encodeEventCursor = (jobId: string, seq: number): string =>
  Buffer.from(`${jobId}:${seq}`, 'utf8').toString('base64url');

/** A malformed cursor, or another job's: the client's mistake (BAD_USER_INPUT). */
export class InvalidEventCursorError extends DomainError {
  constructor(message: string) {
    super('BAD_USER_INPUT', message);
    this.name = 'InvalidEventCursorError';
  }
}

/** The seq a cursor names, checking it belongs to `jobId`. */
export function decodeEventCursor(cursor: string, jobId: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const sep = text.lastIndexOf(':');
  const seq = Number(text.slice(sep + 1));
  if (sep <= 0 || !Number.isInteger(seq) || seq < 0)
    throw new InvalidEventCursorError(`"${cursor}" is not an event cursor`);
  if (text.slice(0, sep) !== jobId)
    throw new InvalidEventCursorError(`cursor "${cursor}" belongs to another job`);
  return seq;
}
