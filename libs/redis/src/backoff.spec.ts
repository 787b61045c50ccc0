import { backoffDelayMs, cappedExponentialMs } from './backoff.js';

describe('backoff', () => {
  const policy = { baseMs: 100, capMs: 1000 };

  it.each([
    [0, 100],
    [1, 200],
    [3, 800],
    [4, 1000],
    [1_000, 1000],
    [-1, 100],
  ])('step %i grows exponentially to the cap: %i ms', (step, ms) => {
    expect(cappedExponentialMs(step, policy)).toBe(ms);
    expect(backoffDelayMs(step, policy, () => 1)).toBe(ms);
    expect(backoffDelayMs(step, policy, () => 0)).toBe(ms / 2);
  });

  it('jitters between half and all of the delay', () => {
    const seen = Array.from({ length: 200 }, () => backoffDelayMs(3, policy));
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(400);
    expect(Math.max(...seen)).toBeLessThanOrEqual(800);
    expect(new Set(seen).size).toBeGreaterThan(10);
  });
});
