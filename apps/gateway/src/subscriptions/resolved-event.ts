import type { ExecutionResult } from 'graphql';

/**
 * A subscription event as the gateway keeps it from its resolution to its last subscriber: an event without
 * errors as its JSON only, made once for every subscriber (the direct sinks write it as it is). V8's object tree
 * of a result takes about twice the heap of its JSON, and a stream's queued events and replay history are held
 * for as long as their slowest reader: keeping both (and the JSON two bytes per character, see oneByte) took
 * 5.4× the bytes the buffered-bytes bounds count, against 1.06× now (a 100-node job's replays, paused readers).
 * An event with errors keeps its result object: graphql-ws formats those itself.
 */
export class ResolvedEvent {
  private constructor(
    /** The result's JSON (events without errors). */
    readonly json: string | undefined,
    private readonly withErrors: ExecutionResult | undefined,
    /** The JSON's length: what the event holds, as the byte bounds count it. */
    readonly bytes: number,
  ) {}

  static of(result: ExecutionResult): ResolvedEvent {
    const json = JSON.stringify(result);
    // an event with errors keeps only the JSON's length: its copy would be thrown away
    return result.errors?.length
      ? new ResolvedEvent(undefined, result, json.length)
      : new ResolvedEvent(oneByte(json), undefined, json.length);
  }

  get hasErrors(): boolean {
    return this.withErrors !== undefined;
  }

  /** The result itself, for a subscriber that has no direct sink (parsed anew from the JSON each time). */
  result(): ExecutionResult {
    return this.withErrors ?? (JSON.parse(this.json!) as ExecutionResult);
  }
}

/**
 * The same text, held one byte per character when it is ASCII. V8 writes JSON.stringify's output two bytes per
 * character as soon as one string in the value is held that way, and whether one is depends on the process's
 * history, not on the text: a property name first internalised from a message that had a character past Latin-1
 * (seen here: `finishedAt`) stays two-byte for the life of the process, and every event naming it then took twice
 * the heap its length says. That is Node 20's V8; Node 22's narrows JSON.stringify's output itself, and the copy is
 * then redundant. Copying through Latin-1 costs two copies per event, not per subscriber.
 */
function oneByte(json: string): string {
  return Buffer.byteLength(json, 'utf8') === json.length
    ? Buffer.from(json, 'latin1').toString('latin1')
    : json;
}
