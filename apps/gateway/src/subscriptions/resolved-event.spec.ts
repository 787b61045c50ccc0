import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GraphQLError } from 'graphql';
import { ResolvedEvent } from './resolved-event.js';

// V8's own test hook (d8's and node's --expose-externalize-string): whether a string is held one byte per character.
setFlagsFromString('--expose-externalize-string');
const isOneByteString = runInNewContext('isOneByteString') as (s: string) => boolean;

/** `text` held two bytes per character although it is ASCII (a slice of a string that has a wider character). */
const twoByte = (text: string) => `\u2026${text}`.slice(1);

describe('ResolvedEvent', () => {
  it('keeps an event without errors as its JSON, one byte per character even where V8 would use two', () => {
    // one string held that way (in the gateway: a property name first internalised from a two-byte message)
    const finishedAt = twoByte('2026-12-05T09:00:00.000Z');
    const result = { data: { e: { seq: 7, job: { finishedAt, labels: { k: 'y'.repeat(5000) } } } } };
    // Node 20's V8 writes this two bytes per character (what the gateway held: twice the bytes it counted); Node 22's
    // narrows JSON.stringify's output itself
    const plain = JSON.stringify(result);

    const event = ResolvedEvent.of(result);
    expect(event.json).toBe(plain);
    expect(isOneByteString(event.json!)).toBe(true);
    expect(event.bytes).toBe(plain.length);
    expect(event.hasErrors).toBe(false);
    expect(isOneByteString(ResolvedEvent.of({ data: { e: { seq: 8 } } }).json!)).toBe(true); // one-byte already
    expect(event.result()).toEqual(result); // parsed back for a subscriber without a direct sink
  });

  it('keeps text past ASCII as it is', () => {
    const result = { data: { e: { message: 'done … in 3 ms — ok', label: 'café' } } };
    const event = ResolvedEvent.of(result);
    expect(event.json).toBe(JSON.stringify(result));
    expect(event.result()).toEqual(result);
  });

  it('keeps an event with errors as its result object (graphql-ws formats errors)', () => {
    const result = {
      data: null,
      errors: [new GraphQLError('job not found', { extensions: { code: 'NOT_FOUND' } })],
    };
    const event = ResolvedEvent.of(result);
    expect(event.hasErrors).toBe(true);
    expect(event.json).toBeUndefined();
    expect(event.result()).toBe(result);
    expect(event.bytes).toBe(JSON.stringify(result).length);
  });
});
