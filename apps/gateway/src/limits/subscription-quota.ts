import { gatewayError } from '../gateway-errors.js';
import type { SharedSubscriptionSlots } from './shared-subscription-slots.js';

/**
 * Live subscriptions per connection (on this replica: a connection lives on one) and per API key (across all
 * gateway replicas, through SharedSubscriptionSlots in Redis). A slot is taken before the upstream
 * subscription opens and given back exactly once when it ends, however it ends.
 */
export class SubscriptionQuota {
  private readonly perConnection = new Map<object, number>();

  constructor(
    readonly maxPerConnection: number,
    readonly maxPerKey: number,
    private readonly slots: SharedSubscriptionSlots,
  ) {}

  /**
   * Throws RATE_LIMITED when either limit is reached, UNAVAILABLE when the shared per-key count cannot be
   * reached (fail closed: never unlimited); returns the release function.
   */
  async acquire(connection: object, keyId: string): Promise<() => void> {
    const c = this.perConnection.get(connection) ?? 0;
    if (c >= this.maxPerConnection)
      throw gatewayError('RATE_LIMITED', `at most ${this.maxPerConnection} subscriptions per connection`, {
        limit: 'subscriptionsPerConnection',
        retryAfterSeconds: 5,
      });
    // Taken before the await so concurrent subscribes on one connection cannot pass the check together.
    this.perConnection.set(connection, c + 1);
    let releaseKey: (() => void) | null;
    try {
      releaseKey = await this.slots.acquire(keyId, this.maxPerKey);
    } catch {
      this.decrement(connection);
      throw gatewayError('UNAVAILABLE', 'the subscription quota store is unreachable; try again shortly', {
        retryAfterSeconds: 5,
      });
    }
    if (!releaseKey) {
      this.decrement(connection);
      throw gatewayError('RATE_LIMITED', `at most ${this.maxPerKey} subscriptions per API key`, {
        limit: 'subscriptionsPerKey',
        retryAfterSeconds: 5,
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.decrement(connection);
      releaseKey();
    };
  }

  /** Live subscriptions of a key across replicas. */
  count(keyId: string): Promise<number> {
    return this.slots.count(keyId);
  }

  private decrement(connection: object): void {
    const n = (this.perConnection.get(connection) ?? 1) - 1;
    if (n <= 0) this.perConnection.delete(connection);
    else this.perConnection.set(connection, n);
  }
}
