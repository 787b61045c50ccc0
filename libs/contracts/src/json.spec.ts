import { nestsDeeperThan } from './json.js';

/** `depth` levels of alternating arrays and objects around a leaf. */
const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
};

describe('nestsDeeperThan', () => {
  it('counts the value itself as level 1 and answers at the bound exactly', () => {
    expect(nestsDeeperThan(1, 0)).toBe(false); // a leaf has no level
    expect(nestsDeeperThan({}, 1)).toBe(false);
    expect(nestsDeeperThan({ a: {} }, 1)).toBe(true);
    expect(nestsDeeperThan(nested(64), 64)).toBe(false);
    expect(nestsDeeperThan(nested(65), 64)).toBe(true);
  });

  it('walks 100,000 levels without recursion', () => {
    expect(nestsDeeperThan(nested(100_000), 128)).toBe(true);
  });
});
