import { BufferBudgetExceeded, KeyBufferBudgets } from './buffered-bytes.js';

describe('KeyBufferBudgets', () => {
  it('refuses past the bound of one key, taking nothing, and names the bound', () => {
    const budgets = new KeyBufferBudgets({ perKey: 100, total: 0 });
    const a = budgets.for('A');
    expect(a.tryTake(60)).toBeNull();
    const refused = a.tryTake(41);
    expect(refused).toBeInstanceOf(BufferBudgetExceeded);
    expect(refused).toMatchObject({ limit: 'bufferedBytesPerKey', max: 100 });
    expect(budgets.usedBy('A')).toBe(60);
    expect(budgets.for('B').tryTake(100)).toBeNull(); // another key has a bound of its own
    a.take(50); // forced (terminal events): past the bound
    expect(budgets.usedBy('A')).toBe(110);
    a.give(110);
    budgets.for('B').give(100);
    expect([budgets.keys, budgets.total]).toEqual([0, 0]);
  });

  it('once the total is reached, refuses the keys above an equal share of it and lets the others go on', () => {
    const budgets = new KeyBufferBudgets({ perKey: 0, total: 300 });
    const hostile1 = budgets.for('H1');
    const hostile2 = budgets.for('H2');
    expect(hostile1.tryTake(150)).toBeNull();
    expect(hostile2.tryTake(140)).toBeNull();
    // 290 + 20 > 300: H1 holds 150 + 20 > 300 / 2
    expect(hostile1.tryTake(20)).toMatchObject({ limit: 'bufferedBytesTotal', max: 300 });
    // a reader that holds a little: 10 ≤ 300 / 3, taken although the total passes 300
    const reader = budgets.for('R');
    expect(reader.tryTake(10)).toBeNull();
    expect(budgets.total).toBe(300);
    expect(reader.tryTake(10)).toBeNull();
    expect(budgets.total).toBe(310);
    // ... up to its share
    expect(reader.tryTake(90)).toMatchObject({ limit: 'bufferedBytesTotal' });
    // under the total again, anyone may take
    hostile1.give(150);
    expect(hostile2.tryTake(100)).toBeNull();
    expect(budgets.usedBy('H2')).toBe(240);
  });

  it('checks its bounds', () => {
    expect(() => new KeyBufferBudgets({ perKey: -1, total: 0 })).toThrow(/perKey/);
    expect(() => new KeyBufferBudgets({ perKey: 0, total: 1.5 })).toThrow(/total/);
  });
});
