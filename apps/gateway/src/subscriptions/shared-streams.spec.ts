import { BufferOverflow } from './event-buffer.js';
import { BufferBudgetExceeded, KeyBufferBudgets } from './buffered-bytes.js';
import {
  StreamSharing,
  type SharedItem,
  type SharedStreamSink,
  type SharedStreamSource,
  type StreamMember,
} from './shared-streams.js';

/** A fake upstream: records how often it was opened, re-homed and stopped, and lets the test emit. */
class FakeUpstream {
  sinks: SharedStreamSink<number>[] = [];
  stopped = 0;
  /** The holders it was re-homed to, in order. */
  rehomed: string[] = [];
  source = (): SharedStreamSource<number, string> => (sink) => {
    this.sinks.push(sink);
    return { stop: () => void this.stopped++, rehome: (holder) => void this.rehomed.push(holder) };
  };
  get sink(): SharedStreamSink<number> {
    return this.sinks.at(-1)!;
  }
  emit(value: number, extra: Partial<SharedItem<number>> = {}): void {
    this.sink.next({ value, coalesceKey: null, essential: false, cursor: String(value), ...extra });
  }
}

/** A read that timed out in drainNow stays pending; the next drainNow picks it up (it owns the next item). */
const pendingReads = new WeakMap<
  StreamMember<number, string>,
  ReturnType<StreamMember<number, string>['read']>
>();

/** Reads what a member has queued right now (replay first, then its buffer) until it would wait. */
async function drainNow(member: StreamMember<number, string>): Promise<(number | 'end' | 'error')[]> {
  const out: (number | 'end' | 'error')[] = [];
  for (;;) {
    const pending = pendingReads.get(member) ?? member.read();
    pendingReads.set(member, pending);
    const read = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), 20))]);
    if (read === null) return out;
    pendingReads.delete(member);
    if (read.kind === 'value') out.push(read.item.value);
    else {
      out.push(read.kind);
      return out;
    }
  }
}

const sharing = (bufferCapacity = 8, historyLimit = 100) =>
  new StreamSharing<number, string>({ bufferCapacity, historyLimit });

describe('StreamSharing', () => {
  it('deliverDirectly: idle members take items in the stream step; replay, a queue or a held item keep the order', async () => {
    const s = sharing(8, 100);
    const up = new FakeUpstream();
    const first = s.join('k', true, 'm', up.source);
    const direct: number[] = [];
    let accept = true;
    first.deliverDirectly((item) => accept && direct.push(item.value) > 0);
    up.emit(1);
    up.emit(2);
    expect(direct).toEqual([1, 2]); // synchronously, nothing queued
    expect(await drainNow(first)).toEqual([]);

    // a late joiner of a replayable stream: its history is read first, so live items queue behind it
    const late = s.join('k', true, 'm', up.source);
    const lateDirect: number[] = [];
    late.deliverDirectly((item) => lateDirect.push(item.value) > 0);
    up.emit(3);
    expect(lateDirect).toEqual([]);
    expect(await drainNow(late)).toEqual([1, 2, 3]);
    up.emit(4);
    expect(lateDirect).toEqual([4]);

    // refused (a backed-up client): queued; later items queue behind it even once accepted again
    accept = false;
    up.emit(5);
    accept = true;
    up.emit(6);
    expect(direct).toEqual([1, 2, 3, 4]);
    // the reader holds an item it has not written yet: items arriving meanwhile queue too
    const held = await first.read();
    expect(held).toMatchObject({ kind: 'value', item: { value: 5 } });
    first.holding = true;
    up.emit(7);
    first.holding = false;
    expect(await drainNow(first)).toEqual([6, 7]);
    up.emit(8);
    expect(direct).toEqual([1, 2, 3, 4, 8]);
  });

  it('identical keys share one upstream; every member gets every item', async () => {
    const s = sharing();
    const up = new FakeUpstream();
    const members = Array.from({ length: 5 }, () => s.join('k', false, 'm', up.source));
    expect(up.sinks).toHaveLength(1);
    expect(s.opened).toBe(1);
    expect(s.joinedShared).toBe(4);
    for (let i = 1; i <= 3; i++) up.emit(i);
    for (const m of members) expect(await drainNow(m)).toEqual([1, 2, 3]);
  });

  it('different keys, and key null, never share', () => {
    const s = sharing();
    const up = new FakeUpstream();
    s.join('a', false, 'm', up.source);
    s.join('b', false, 'm', up.source);
    s.join(null, false, 'm', up.source);
    s.join(null, false, 'm', up.source);
    expect(up.sinks).toHaveLength(4);
  });

  it('a late joiner of a replayable stream gets everything since its start, then live, no gap or repeat', async () => {
    const s = sharing();
    const up = new FakeUpstream();
    const first = s.join('k', true, 'm', up.source);
    up.emit(1);
    up.emit(2);
    const late = s.join('k', true, 'm', up.source);
    up.emit(3);
    expect(up.sinks).toHaveLength(1);
    expect(await drainNow(late)).toEqual([1, 2, 3]);
    expect(await drainNow(first)).toEqual([1, 2, 3]);
    up.emit(4);
    up.sink.complete();
    expect(await drainNow(late)).toEqual([4, 'end']);
    expect(await drainNow(first)).toEqual([4, 'end']);
  });

  it('a late joiner of a live-only stream gets what arrives after it joined', async () => {
    const s = sharing();
    const up = new FakeUpstream();
    const first = s.join('k', false, 'm', up.source);
    up.emit(1);
    const late = s.join('k', false, 'm', up.source);
    up.emit(2);
    expect(await drainNow(first)).toEqual([1, 2]);
    expect(await drainNow(late)).toEqual([2]);
  });

  it('a replayable stream whose history passed the limit takes no joiners; its members continue', async () => {
    const s = sharing(8, 2);
    const up = new FakeUpstream();
    const first = s.join('k', true, 'm', up.source);
    up.emit(1);
    up.emit(2);
    const second = s.join('k', true, 'm', up.source); // history [1, 2] still complete
    expect(up.sinks).toHaveLength(1);
    up.emit(3); // past the limit: dropped
    const third = s.join('k', true, 'm', up.source);
    expect(up.sinks).toHaveLength(2); // its own upstream, replaying from the source's log
    up.sinks[0]!.next({ value: 4, coalesceKey: null, essential: false });
    expect(await drainNow(first)).toEqual([1, 2, 3, 4]);
    expect(await drainNow(second)).toEqual([1, 2, 3, 4]);
    expect(await drainNow(third)).toEqual([]);
    // the new stream is the one later joiners find
    expect(s.streamCount).toBe(1);
    s.join('k', true, 'm', up.source);
    expect(up.sinks).toHaveLength(2);
  });

  it('one member leaving does not end the others; the last one stops the upstream', async () => {
    const s = sharing();
    const up = new FakeUpstream();
    const [a, b, c] = [1, 2, 3].map(() => s.join('k', false, 'm', up.source)) as StreamMember<
      number,
      string
    >[];
    a!.leave();
    a!.leave(); // idempotent
    up.emit(1);
    expect(await drainNow(a!)).toEqual(['end']);
    expect(await drainNow(b!)).toEqual([1]);
    b!.leave();
    expect(up.stopped).toBe(0);
    up.emit(2);
    expect(await drainNow(c!)).toEqual([1, 2]);
    c!.leave();
    expect(up.stopped).toBe(1);
    expect(s.streamCount).toBe(0);
    // a new subscriber opens a new upstream
    s.join('k', false, 'm', up.source);
    expect(up.sinks).toHaveLength(2);
  });

  it('the member the upstream runs under leaving re-homes it to the oldest one left; the others leaving do not', async () => {
    const s = sharing();
    const up = new FakeUpstream();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((h) => s.join('k', false, h, up.source));
    up.emit(1);
    c!.leave();
    expect(up.rehomed).toEqual([]);
    a!.leave();
    expect(up.rehomed).toEqual(['b']);
    up.emit(2);
    b!.leave();
    expect(up.rehomed).toEqual(['b', 'd']);
    up.emit(3);
    expect(await drainNow(d!)).toEqual([1, 2, 3]);
    // the last one leaving stops it, nothing to re-home to
    d!.leave();
    expect(up.rehomed).toEqual(['b', 'd']);
    expect([up.sinks.length, up.stopped]).toEqual([1, 1]);
  });

  it('an upstream error reaches every member after the items before it; the next joiner opens anew', async () => {
    const s = sharing();
    const up = new FakeUpstream();
    const members = [s.join('k', true, 'm', up.source), s.join('k', true, 'm', up.source)];
    up.emit(1);
    const failure = new Error('gone');
    up.sink.error(failure);
    for (const m of members) {
      expect((await m.read()).kind).toBe('value');
      expect(await m.read()).toEqual({ kind: 'error', error: failure });
    }
    expect(up.stopped).toBe(1);
    s.join('k', true, 'm', up.source);
    expect(up.sinks).toHaveLength(2);
  });

  it('a slow member overflows alone: the others get everything and the upstream stays', async () => {
    const s = sharing(4);
    const up = new FakeUpstream();
    const slow = s.join('k', false, 'slow', up.source);
    const fast = s.join('k', false, 'fast', up.source);
    const got: number[] = [];
    for (let i = 1; i <= 10; i++) {
      up.emit(i);
      const r = await fast.read();
      if (r.kind === 'value') got.push(r.item.value);
    }
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await drainNow(slow)).toEqual([1, 2, 3, 4, 'error']);
    expect(up.stopped).toBe(0);
    // the upstream ran on behalf of the member that overflowed: it now runs on behalf of the one left
    expect(up.rehomed).toEqual(['fast']);
    const last = s.join('k', false, 'm', up.source); // the stream is still shared
    expect(up.sinks).toHaveLength(1);
    up.emit(11);
    expect(await drainNow(last)).toEqual([11]);
  });

  it('under pressure a member coalesces keyed items, keeps essential ones past its capacity', async () => {
    const coalesced: number[] = [];
    const s = new StreamSharing<number, string>({
      bufferCapacity: 4,
      historyLimit: 0,
      onCoalesced: (n) => coalesced.push(n),
    });
    const up = new FakeUpstream();
    const m = s.join('k', false, 'm', up.source);
    up.emit(1);
    up.emit(2);
    for (let i = 3; i <= 8; i++) up.emit(i, { coalesceKey: 'progress' });
    up.emit(9, { essential: true });
    expect(await drainNow(m)).toEqual([1, 2, 8, 9]);
    expect(coalesced.reduce((a, b) => a + b, 0)).toBe(5);
  });

  it('the overflow error is a BufferOverflow', async () => {
    const s = sharing(2);
    const up = new FakeUpstream();
    const m = s.join('k', false, 'm', up.source);
    for (let i = 1; i <= 3; i++) up.emit(i);
    await m.read();
    await m.read();
    const r = await m.read();
    expect(r.kind === 'error' && r.error).toBeInstanceOf(BufferOverflow);
  });

  it('a source that fails while starting fails its member and is stopped', async () => {
    const s = sharing();
    let stopped = 0;
    const m = s.join('k', false, 'm', () => (sink) => {
      sink.error(new Error('shutting down'));
      return { stop: () => void stopped++, rehome: () => undefined };
    });
    expect(await m.read()).toMatchObject({ kind: 'error' });
    expect(stopped).toBe(1);
    expect(s.streamCount).toBe(0);
  });

  it('every member leaving while items are on their way stops the upstream once and keeps nothing', async () => {
    const s = sharing();
    const up = new FakeUpstream();
    const m = s.join('k', true, 'm', up.source);
    m.leave();
    up.emit(1); // arrives after the stop: ignored
    expect(up.stopped).toBe(1);
    expect(s.streamCount).toBe(0);
  });
});

describe('StreamSharing with a byte budget per key', () => {
  const bytes = (n: number) => ({ bytes: n });

  it('counts what a member has queued against its key; past the bound that member ends BufferBudgetExceeded after what it holds', async () => {
    const budgets = new KeyBufferBudgets({ perKey: 250, total: 0 });
    const s = sharing(8, 0);
    const up = new FakeUpstream();
    const hostile = s.join(null, false, 'a', up.source, budgets.for('A'));
    up.emit(1, bytes(100));
    up.emit(2, bytes(100));
    expect(budgets.usedBy('A')).toBe(200);
    up.emit(3, bytes(100)); // 300 > 250
    expect(budgets.usedBy('A')).toBe(200);
    const reads: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await hostile.read();
      reads.push(r.kind === 'value' ? r.item.value : r.kind === 'error' ? r.error : r.kind);
    }
    expect(reads.slice(0, 2)).toEqual([1, 2]);
    expect(reads[2]).toBeInstanceOf(BufferBudgetExceeded);
    expect(budgets.usedBy('A')).toBe(0);
    hostile.leave();
    expect(budgets.keys).toBe(0);
  });

  it("one key's bound does not touch another key's members of the same stream", async () => {
    const budgets = new KeyBufferBudgets({ perKey: 150, total: 0 });
    const s = sharing(8, 0);
    const up = new FakeUpstream();
    const a = s.join('k', false, 'a', up.source, budgets.for('A'));
    const b = s.join('k', false, 'b', up.source, budgets.for('B'));
    up.emit(1, bytes(100));
    // B reads as it comes; A does not
    expect(await drainNow(b)).toEqual([1]);
    up.emit(2, bytes(100));
    expect(await drainNow(b)).toEqual([2]);
    expect(await drainNow(a)).toEqual([1, 'error']);
    up.emit(3, bytes(100));
    expect(await drainNow(b)).toEqual([3]);
    expect(budgets.usedBy('B')).toBe(0);
    a.leave();
    b.leave();
    expect(budgets.keys).toBe(0);
  });

  it('gives back what a leaving member left queued, and what coalescing replaced', async () => {
    const budgets = new KeyBufferBudgets({ perKey: 10_000, total: 0 });
    const s = sharing(4, 0);
    const up = new FakeUpstream();
    const m = s.join(null, false, 'a', up.source, budgets.for('A'));
    up.emit(1, { ...bytes(10), coalesceKey: 'n' });
    up.emit(2, { ...bytes(20), coalesceKey: 'n' });
    up.emit(3, { ...bytes(30), coalesceKey: 'n' }); // from half the capacity on, replaces the queued 'n' items
    expect(budgets.usedBy('A')).toBe(30); // 3 alone: 1 and 2 were replaced
    expect(await drainNow(m)).toEqual([3]);
    expect(budgets.usedBy('A')).toBe(0);
    up.emit(4, bytes(40));
    up.emit(5, bytes(50));
    expect(budgets.usedBy('A')).toBe(90);
    m.leave();
    expect(budgets.keys).toBe(0);
  });

  it("a replayable stream's history counts against its opener's key; past it the history goes (no more joiners), and its bytes with it", async () => {
    const budgets = new KeyBufferBudgets({ perKey: 250, total: 0 });
    const s = sharing(8, 100);
    const up = new FakeUpstream();
    const opener = s.join('k', true, 'a', up.source, budgets.for('A'));
    up.emit(1, bytes(50));
    expect(await drainNow(opener)).toEqual([1]);
    expect(budgets.usedBy('A')).toBe(50); // the history keeps it
    const late = s.join('k', true, 'b', up.source, budgets.for('B'));
    expect(s.joinedShared).toBe(1);
    expect(await drainNow(late)).toEqual([1]);
    up.emit(2, bytes(50));
    up.emit(3, bytes(200)); // history 300 > 250: dropped
    expect(await drainNow(opener)).toEqual([2, 3]);
    expect(await drainNow(late)).toEqual([2, 3]);
    expect(budgets.usedBy('A')).toBe(0);
    expect(s.streamCount).toBe(0);
    s.join('k', true, 'c', up.source, budgets.for('C')).leave();
    expect(s.opened).toBe(2);
    opener.leave();
    late.leave();
    expect(budgets.keys).toBe(0);
  });
});
