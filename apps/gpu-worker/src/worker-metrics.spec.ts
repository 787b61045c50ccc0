import { queueWaitMs } from './worker-metrics.js';

describe('queueWaitMs', () => {
  it('counts from when the job became eligible (created + delay) to its lease', () => {
    expect(queueWaitMs({ timestamp: 1_000, delay: 500, processedOn: 4_000 })).toBe(2_500);
    expect(queueWaitMs({ timestamp: 1_000, processedOn: 1_250 })).toBe(250);
  });

  it('counts to the time given: an attempt of a lease waited until its actor came to it', () => {
    expect(queueWaitMs({ timestamp: 1_000, delay: 500, processedOn: 4_000 }, 4_300)).toBe(2_800);
  });

  it('never goes negative (a lease a little before the delay ends, clocks apart)', () => {
    expect(queueWaitMs({ timestamp: 1_000, delay: 500, processedOn: 1_400 })).toBe(0);
  });
});
