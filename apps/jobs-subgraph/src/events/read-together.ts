/**
 * Events one read took from the log share what their `job` field reads. `JobEvent.job` is the job as of now; read
 * once for a batch, after every event of it was written, it is at least as new as each of them, and a replay (a
 * 200-node job's 400 events, each selecting the job and its nodes) reads the job once per batch of up to 256
 * events instead of once per event. Live events that arrive one at a time read it as before. The mark is a
 * non-enumerable property, so the events compare and serialize as before.
 */
const READ_TOGETHER = Symbol('switchyard.eventsReadTogether');

type Marked = { [READ_TOGETHER]?: Map<string, Promise<unknown>> };

/** Marks `events` as read together (one shared map of reads for all of them). */
export function markReadTogether(events: readonly object[]): void {
  if (events.length < 2) return;
  const shared = new Map<string, Promise<unknown>>();
  for (const event of events) Object.defineProperty(event, READ_TOGETHER, { value: shared });
}

/** Gives `to` the mark of `from` (an event copied into its GraphQL type). */
export function keepReadTogether<T extends object>(from: object, to: T): T {
  const shared = (from as Marked)[READ_TOGETHER];
  if (shared) Object.defineProperty(to, READ_TOGETHER, { value: shared });
  return to;
}

/**
 * `read()`, or the promise of it that an event read together with `event` already started under `key`. A failed
 * read is forgotten, so the next event of the batch tries again.
 */
export function readOnceTogether<T>(event: object, key: string, read: () => Promise<T>): Promise<T> {
  const shared = (event as Marked)[READ_TOGETHER];
  if (!shared) return read();
  const started = shared.get(key) as Promise<T> | undefined;
  if (started) return started;
  const reading = read();
  shared.set(key, reading);
  reading.catch(() => shared.delete(key));
  return reading;
}
