import { LeaseSizer } from './lease-sizer.js';

describe('LeaseSizer (how many attempts a lease carries)', () => {
  it('is 1 until an attempt of the class was seen, and always with leases off', () => {
    const sizer = new LeaseSizer({ max: 8, targetMs: 50 });
    expect(sizer.size('cpu')).toBe(1);
    sizer.observe('cpu', 2);
    expect(sizer.size('cpu')).toBe(8);
    expect(sizer.size('gpu')).toBe(1); // per class
    const off = new LeaseSizer({ max: 1, targetMs: 50 });
    off.observe('cpu', 0);
    expect(off.size('cpu')).toBe(1);
  });

  it('fits the target: attempts of 10 ms go five to a 50 ms lease, attempts longer than the target alone', () => {
    const sizer = new LeaseSizer({ max: 16, targetMs: 50, weight: 1 });
    sizer.observe('cpu', 10);
    expect(sizer.size('cpu')).toBe(5);
    sizer.observe('cpu', 0); // a no-op counts as 1 ms
    expect(sizer.size('cpu')).toBe(16);
    sizer.observe('cpu', 2_000);
    expect(sizer.size('cpu')).toBe(1);
  });

  it('follows a running average, so one slow attempt does not end leasing at once', () => {
    const sizer = new LeaseSizer({ max: 16, targetMs: 50 });
    for (let i = 0; i < 20; i++) sizer.observe('cpu', 5);
    sizer.observe('cpu', 100); // average 5 + 0.2 × 95 = 24 ms
    expect(sizer.size('cpu')).toBe(2);
    sizer.observe('cpu', Number.NaN); // ignored
    expect(sizer.size('cpu')).toBe(2);
  });
});
