import { LoopSlice } from './loop-slice.js';

/** Keeps the thread busy for `ms` (an event's execution). */
const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

/** A chain of `items` promise callbacks of `ms` each, asking `slice.pace()` before each (as a subscription's next()). */
async function chain(slice: LoopSlice | null, items: number, ms: number, log: string[], name: string) {
  for (let i = 0; i < items; i++) {
    const wait = slice?.pace();
    if (wait) await wait;
    else await Promise.resolve();
    busy(ms);
    log.push(name);
  }
}

describe('LoopSlice', () => {
  it('goes on at once within the slice, and waits for a later turn of the loop past it', async () => {
    let t = 0;
    const slice = new LoopSlice(5, () => t);
    expect(slice.pace()).toBeUndefined();
    t = 4;
    expect(slice.pace()).toBeUndefined();
    t = 5;
    const wait = slice.pace();
    expect(wait).toBeInstanceOf(Promise);
    expect(slice.queued).toBe(1);
    await wait;
    expect(slice.queued).toBe(0);
  });

  it('lets the I/O and timers of other callers run between slices of a long chain', async () => {
    for (const slice of [null, new LoopSlice(5)]) {
      const log: string[] = [];
      // another caller's I/O callback: runs at the loop's next turn
      setImmediate(() => log.push('other'));
      await chain(slice, 60, 1, log, 'replay');
      const at = log.indexOf('other');
      // without slices the whole chain ran before it; with them, after the first slice or so
      if (slice === null) expect(at).toBe(-1);
      else expect(at).toBeLessThan(15);
    }
  });

  it('resumes the chains that wait in turn, each for about a slice (round robin)', async () => {
    const slice = new LoopSlice(5);
    const log: string[] = [];
    await Promise.all([chain(slice, 30, 1, log, 'a'), chain(slice, 30, 1, log, 'b')]);
    // neither runs to its end while the other waits: both have items among the first 20
    const first = log.slice(0, 20);
    expect(first.filter((x) => x === 'a').length).toBeGreaterThan(3);
    expect(first.filter((x) => x === 'b').length).toBeGreaterThan(3);
  });
});
