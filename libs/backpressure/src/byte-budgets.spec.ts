import { ByteBudgets } from './byte-budgets.js';

describe('ByteBudgets', () => {
  it('refuses past the bound of one owner, taking nothing, and says which bound', () => {
    const budgets = new ByteBudgets({ perOwner: 100, total: 0 });
    const a = budgets.for('A');
    expect(a.tryTake(60)).toBeNull();
    expect(a.tryTake(41)).toBe('perOwner');
    expect(budgets.usedBy('A')).toBe(60);
    expect(budgets.for('B').tryTake(100)).toBeNull(); // another owner has a bound of its own
    a.take(50); // forced: past the bound
    expect(budgets.usedBy('A')).toBe(110);
    a.give(110);
    budgets.for('B').give(100);
    expect([budgets.owners, budgets.total]).toEqual([0, 0]);
  });

  it('once the total is reached, refuses the owners above an equal share of it and lets the others go on', () => {
    const budgets = new ByteBudgets({ perOwner: 0, total: 300 });
    const hostile1 = budgets.for('H1');
    const hostile2 = budgets.for('H2');
    expect(hostile1.tryTake(150)).toBeNull();
    expect(hostile2.tryTake(140)).toBeNull();
    // 290 + 20 > 300: H1 would hold 150 + 20 > 300 / 2
    expect(hostile1.tryTake(20)).toBe('total');
    // a reader that holds a little: 10 ≤ 300 / 3, taken although the total passes 300
    const reader = budgets.for('R');
    expect(reader.tryTake(10)).toBeNull();
    expect(budgets.total).toBe(300);
    expect(reader.tryTake(10)).toBeNull();
    expect(budgets.total).toBe(310);
    // ... up to its share
    expect(reader.tryTake(90)).toBe('total');
    // under the total again, anyone may take
    hostile1.give(150);
    expect(hostile2.tryTake(100)).toBeNull();
    expect(budgets.usedBy('H2')).toBe(240);
  });

  it('checks its bounds', () => {
    expect(() => new ByteBudgets({ perOwner: -1, total: 0 })).toThrow(/perOwner/);
    expect(() => new ByteBudgets({ perOwner: 0, total: 1.5 })).toThrow(/total/);
  });
});
