import { GraphQLError } from 'graphql';
import { SubscriptionQuota } from './subscription-quota.js';

describe('SubscriptionQuota', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return (e as GraphQLError).extensions.code;
    }
    return 'allowed';
  };

  it('limits per connection and per key, and gives a slot back exactly once', () => {
    const quota = new SubscriptionQuota(2, 3);
    const [c1, c2, c3] = [{}, {}, {}];
    const r1 = quota.acquire(c1, 'k');
    quota.acquire(c1, 'k');
    expect(code(() => quota.acquire(c1, 'k'))).toBe('RATE_LIMITED'); // connection full
    quota.acquire(c2, 'k');
    expect(code(() => quota.acquire(c2, 'k'))).toBe('RATE_LIMITED'); // key full (3)
    expect(code(() => quota.acquire(c2, 'other'))).toBe('allowed');
    r1();
    r1(); // a second release changes nothing
    expect(quota.count('k')).toBe(2);
    expect(code(() => quota.acquire(c3, 'k'))).toBe('allowed');
    expect(code(() => quota.acquire(c3, 'k'))).toBe('RATE_LIMITED');
  });
});
