import { supersededBy } from './attempt-preflight.js';

describe('supersededBy (the node check of an attempt that came in a lease)', () => {
  it.each<[string | null, string | null, number, string | undefined]>([
    ['QUEUED', '1', 1, undefined],
    ['RETRYING', '2', 2, undefined],
    // the attempt a dead actor was running: the scheduler takes its redelivered start
    ['RUNNING', '1', 1, undefined],
    ['SUCCEEDED', '1', 1, 'the node is SUCCEEDED'],
    ['FAILED', '1', 1, 'the node is FAILED'],
    ['CANCELLED', '1', 1, 'the node is CANCELLED'],
    ['PENDING', '1', 1, 'the node is PENDING'],
    ['QUEUED', '2', 1, 'the node is at attempt 2'],
    ['RUNNING', '2', 1, 'the node is at attempt 2'],
    [null, null, 1, 'the node is gone'],
  ])('status %s, attempt %s, payload attempt %d → %s', (status, attempt, payloadAttempt, why) => {
    expect(supersededBy(status, attempt, payloadAttempt)).toBe(why);
  });
});
