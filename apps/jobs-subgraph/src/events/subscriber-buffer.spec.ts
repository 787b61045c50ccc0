import type { JobEvent } from '#libs/contracts';
import { SubscriberBuffer } from './subscriber-buffer.js';
import { decodeEventCursor, encodeEventCursor, InvalidEventCursorError } from './event-cursor.js';

let seq = 0;
const ev = (type: JobEvent['type'], nodeId?: string, progress?: number): JobEvent => {
  seq += 1;
  return {
    cursor: String(seq),
    seq,
    jobId: 'j',
    tenant: 't',
    type,
    nodeId,
    progress,
    at: '2026-11-28T12:00:00.000Z',
  };
};

describe('SubscriberBuffer', () => {
  it('keeps every event while below half its capacity', () => {
    const b = new SubscriberBuffer(8);
    for (let i = 0; i < 3; i++) b.push(ev('NODE_PROGRESS', 'a', i / 10));
    expect(b.size).toBe(3);
    expect(b.coalesced).toBe(0);
  });

  it('under pressure keeps only the latest NODE_PROGRESS per node, in seq order, and never drops other types', () => {
    const b = new SubscriberBuffer(6);
    const pushed = [
      ev('NODE_STARTED', 'a'),
      ev('NODE_PROGRESS', 'a', 0.1),
      ev('LOG', 'a'),
      ev('NODE_PROGRESS', 'b', 0.1),
      ev('NODE_PROGRESS', 'a', 0.2), // replaces a@0.1
      ev('NODE_PROGRESS', 'a', 0.3), // replaces a@0.2
      ev('NODE_PROGRESS', 'b', 0.5), // replaces b@0.1
    ];
    for (const e of pushed) b.push(e);
    const out: JobEvent[] = [];
    for (let e = b.shift(); e; e = b.shift()) out.push(e);
    expect(out.map((e) => `${e.type}:${e.nodeId}:${e.progress ?? ''}`)).toEqual([
      'NODE_STARTED:a:',
      'LOG:a:',
      'NODE_PROGRESS:a:0.3',
      'NODE_PROGRESS:b:0.5',
    ]);
    expect(out.map((e) => e.seq)).toEqual([...out.map((e) => e.seq)].sort((x, y) => x - y));
    expect(b.coalesced).toBe(3);
  });

  it('reports full at capacity (the reader then stops reading instead of dropping)', () => {
    const b = new SubscriberBuffer(4);
    for (let i = 0; i < 4; i++) b.push(ev('LOG', 'a'));
    expect(b.full).toBe(true);
    b.shift();
    expect(b.full).toBe(false);
  });
});

describe('event cursors', () => {
  it('round-trip and belong to one job', () => {
    const c = encodeEventCursor('job-1', 42);
    expect(decodeEventCursor(c, 'job-1')).toBe(42);
    expect(() => decodeEventCursor(c, 'job-2')).toThrow(InvalidEventCursorError);
    expect(() => decodeEventCursor('garbage', 'job-1')).toThrow(InvalidEventCursorError);
  });

  it('refuse a seq that is not a safe decimal integer (a forged cursor), before anything is read', () => {
    const forged = (seq: string) => Buffer.from(`job-1:${seq}`, 'utf8').toString('base64url');
    for (const seq of ['9'.repeat(400), String(2 ** 53 + 2), '1e3', '', ' 5', '-1', '0x10', '2.5'])
      expect(() => decodeEventCursor(forged(seq), 'job-1')).toThrow(InvalidEventCursorError);
    expect(decodeEventCursor(forged(String(Number.MAX_SAFE_INTEGER)), 'job-1')).toBe(Number.MAX_SAFE_INTEGER);
    expect(decodeEventCursor(forged('0'), 'job-1')).toBe(0);
  });
});
