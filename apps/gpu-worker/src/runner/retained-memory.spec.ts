import { retainedGrowth } from './retained-memory.js';

describe('retainedGrowth', () => {
  it('is nothing while nothing is tracked, or when the attempt gave back what it made', () => {
    expect(retainedGrowth(undefined, undefined)).toBeUndefined();
    expect(retainedGrowth(undefined, { tensors: 0, bytes: 0 })).toBeUndefined();
    expect(retainedGrowth({ tensors: 2, bytes: 80 }, { tensors: 2, bytes: 80 })).toBeUndefined();
    expect(retainedGrowth({ tensors: 2, bytes: 80 }, { tensors: 1, bytes: 40 })).toBeUndefined();
  });

  it('says what the attempt left when the runner holds more than before it (nothing before counts as none)', () => {
    expect(retainedGrowth(undefined, { tensors: 1, bytes: 4000 })).toMatch(/left 1 tensors \(4000 bytes\)/);
    expect(retainedGrowth({ tensors: 2, bytes: 80 }, { tensors: 2, bytes: 120 })).toMatch(
      /left 0 tensors \(40 bytes\)/,
    );
    expect(retainedGrowth({ tensors: 2, bytes: 80 }, { tensors: 3, bytes: 80 })).toMatch(/left 1 tensors/);
  });
});
