import { BufferBudgetExceeded, KeyBufferBudgets } from './buffered-bytes.js';
import { FIRST_EVENT_ESTIMATE_BYTES, ResolvingBytes, type ResolvingHold } from './resolving-bytes.js';

const KiB = 1024;

describe('ResolvingBytes', () => {
  it('holds the first estimate on arrival, what the event holds once resolved, and nothing after release', () => {
    const budgets = new KeyBufferBudgets({ perKey: 100 * KiB, total: 0 });
    const budget = budgets.for('k');
    const bytes = new ResolvingBytes();
    const hold = bytes.hold(budget, false) as ResolvingHold;
    expect(budgets.usedBy('k')).toBe(FIRST_EVENT_ESTIMATE_BYTES);
    expect(hold.resolved(10 * KiB)).toBeNull();
    expect(budgets.usedBy('k')).toBe(10 * KiB);
    hold.release();
    hold.release(); // once only
    expect(budgets.usedBy('k')).toBe(0);
    // later arrivals are held at the mean of what resolved
    const next = bytes.hold(budget, false) as ResolvingHold;
    expect(budgets.usedBy('k')).toBe(10 * KiB);
    expect(next.resolved(2 * KiB)).toBeNull();
    next.release();
    expect(budgets.total).toBe(0);
  });

  it('refuses an arrival past the bound, and a resolved event that grew past it; a terminal event is held anyway', () => {
    const budgets = new KeyBufferBudgets({ perKey: 3 * FIRST_EVENT_ESTIMATE_BYTES, total: 0 });
    const budget = budgets.for('k');
    const bytes = new ResolvingBytes();
    const holds = [1, 2, 3].map(() => bytes.hold(budget, false) as ResolvingHold);
    const refused = bytes.hold(budget, false);
    expect(refused).toBeInstanceOf(BufferBudgetExceeded);
    expect(refused).toMatchObject({ limit: 'bufferedBytesPerKey', max: 3 * FIRST_EVENT_ESTIMATE_BYTES });
    const terminal = bytes.hold(budget, true) as ResolvingHold;
    expect(budgets.usedBy('k')).toBe(4 * FIRST_EVENT_ESTIMATE_BYTES);
    // resolved larger than held, with no room for the rest: refused, and it holds what it held
    expect(holds[0]!.resolved(FIRST_EVENT_ESTIMATE_BYTES + 1)).toBeInstanceOf(BufferBudgetExceeded);
    expect(budgets.usedBy('k')).toBe(4 * FIRST_EVENT_ESTIMATE_BYTES);
    // a terminal event's growth is taken whatever the bound
    expect(terminal.resolved(2 * FIRST_EVENT_ESTIMATE_BYTES)).toBeNull();
    for (const h of [...holds, terminal]) h.release();
    expect(budgets.total).toBe(0);
  });
});
