import { CoalescingQueue, coalesceFrom } from './coalescing-queue.js';
import { subscriberBufferFrom } from './subscriber-buffer-setting.js';

const drain = <T>(q: CoalescingQueue<T>): T[] => {
  const out: T[] = [];
  for (let v = q.shift(); v !== undefined; v = q.shift()) out.push(v);
  return out;
};

describe('CoalescingQueue (the subscriber-backpressure policy)', () => {
  it.each([
    [1, 1],
    [2, 1],
    [5, 2],
    [8, 4],
    [512, 256],
  ])('with capacity %i starts coalescing at %i queued items', (capacity, from) => {
    expect(coalesceFrom(capacity)).toBe(from);
    expect(new CoalescingQueue(capacity).coalesceFrom).toBe(from);
  });

  it('keeps every item below half its capacity', () => {
    const q = new CoalescingQueue<string>(8);
    for (const v of ['a1', 'a2', 'a3']) q.push(v, 'a');
    expect(drain(q)).toEqual(['a1', 'a2', 'a3']);
    expect(q.coalesced).toBe(0);
  });

  it('under pressure a newer item replaces every queued one of its key, at the back; unkeyed items stay', () => {
    const q = new CoalescingQueue<string>(4);
    q.push('s', null);
    q.push('a1', 'a');
    q.push('b1', 'b');
    q.push('a2', 'a'); // 3 queued >= 2: a1 goes
    q.push('log', null);
    q.push('a3', 'a'); // a2 goes
    expect(drain(q)).toEqual(['s', 'b1', 'log', 'a3']);
    expect(q.coalesced).toBe(2);
  });

  it('reports full at capacity and never drops by itself', () => {
    const q = new CoalescingQueue<number>(2);
    q.push(1, null);
    q.push(2, null);
    expect(q.full).toBe(true);
    q.push(3, null);
    expect(drain(q)).toEqual([1, 2, 3]);
  });

  it('coalesce answers what it removed and clear what was queued (an owner counting bytes gives them back)', () => {
    const q = new CoalescingQueue<string>(4);
    q.push('a1', 'a');
    q.push('b1', 'b');
    expect(q.coalesce('a')).toEqual(['a1']);
    expect(q.coalesce(null)).toEqual([]);
    q.append('a2', 'a');
    expect(q.clear()).toEqual(['b1', 'a2']);
    expect(q.size).toBe(0);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new CoalescingQueue(0)).toThrow(/at least 1/);
  });
});

describe('subscriberBufferFrom', () => {
  it.each([
    [{}, 512, undefined],
    [{ SUBSCRIBER_BUFFER: 64 }, 64, undefined],
    [{ SUBSCRIPTION_BUFFER: 32 }, 32, /deprecated: set SUBSCRIBER_BUFFER/],
    [{ SUBSCRIBER_BUFFER: 64, SUBSCRIPTION_BUFFER: 32 }, 64, /ignored/],
  ])('%j gives %i', (settings, capacity, deprecation) => {
    const s = subscriberBufferFrom(settings);
    expect(s.capacity).toBe(capacity);
    if (deprecation) expect(s.deprecation).toMatch(deprecation);
    else expect(s.deprecation).toBeUndefined();
  });
});
