import { gatewayError } from '../gateway-errors.js';

/**
 * Live subscriptions per connection and per API key, on this gateway replica. A slot is taken before the
 * upstream subscription opens and given back exactly once when it ends, however it ends.
 */
export class SubscriptionQuota {
  private readonly perKey = new Map<string, number>();
  private readonly perConnection = new Map<object, number>();

  constructor(
    readonly maxPerConnection: number,
    readonly maxPerKey: number,
  ) {}

  /** Throws RATE_LIMITED when either limit is reached; returns the release function. */
  acquire(connection: object, keyId: string): () => void {
    const c = this.perConnection.get(connection) ?? 0;
    const k = this.perKey.get(keyId) ?? 0;
    if (c >= this.maxPerConnection)
      throw gatewayError('RATE_LIMITED', `at most ${this.maxPerConnection} subscriptions per connection`, {
        limit: 'subscriptionsPerConnection',
        retryAfterSeconds: 5,
      });
    if (k >= this.maxPerKey)
      throw gatewayError('RATE_LIMITED', `at most ${this.maxPerKey} subscriptions per API key`, {
        limit: 'subscriptionsPerKey',
        retryAfterSeconds: 5,
      });
    this.perConnection.set(connection, c + 1);
    this.perKey.set(keyId, k + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.decrement(this.perConnection, connection);
      this.decrement(this.perKey, keyId);
    };
  }

  count(keyId: string): number {
    return this.perKey.get(keyId) ?? 0;
  }

  private decrement<K>(map: Map<K, number>, key: K): void {
    const n = (map.get(key) ?? 1) - 1;
    if (n <= 0) map.delete(key);
    else map.set(key, n);
  }
}
