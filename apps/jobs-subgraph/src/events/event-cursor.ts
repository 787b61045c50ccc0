import { CursorInteger } from '#libs/contracts';
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
  const seq = CursorInteger.safeParse(text.slice(sep + 1));
  if (sep <= 0 || !seq.success) throw new InvalidEventCursorError(`"${cursor}" is not an event cursor`);
  if (text.slice(0, sep) !== jobId)
    throw new InvalidEventCursorError(`cursor "${cursor}" belongs to another job`);
  return seq.data;
}

/**
 * An event of a tenant's feed: the feed entry that holds it (a stream id) and its place in that entry (an entry
 * holds one step's JOB_* events). Opaque to clients: `jobFeed(after:)` resumes right after it.
 */
export interface FeedPosition {
  entry: string;
  index: number;
}

const FEED_CURSOR = /^feed:(\d{1,20})-(\d{1,20}):(\d{1,4})$/;

export const encodeFeedCursor = ({ entry, index }: FeedPosition): string =>
  Buffer.from(`feed:${entry}:${index}`, 'utf8').toString('base64url');

export function decodeFeedCursor(cursor: string): FeedPosition {
  const m = FEED_CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new InvalidEventCursorError(`"${cursor}" is not a feed cursor (an event's feedCursor)`);
  return { entry: `${BigInt(m[1]!)}-${BigInt(m[2]!)}`, index: Number(m[3]) };
}
