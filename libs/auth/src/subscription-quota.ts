import { positiveInt } from '#libs/config';
import { CallerAuthError } from './caller-auth-error.js';
import type { SharedSubscriptionSlots } from './shared-subscription-slots.js';

/** Live subscriptions one connection may hold, and one API key across every replica and entry point. */
export const SUBSCRIPTION_QUOTA_DEFAULTS = { perConnection: 100, perKey: 1000 } as const;

/**
 * The two bounds on live subscriptions, with one name and default wherever they are enforced (the gateway for its
 * clients, the jobs subgraph for callers that did not come through the gateway): spread into each app's env shape.
 */
export const subscriptionQuotaEnv = {
  MAX_SUBSCRIPTIONS_PER_CONNECTION: positiveInt(SUBSCRIPTION_QUOTA_DEFAULTS.perConnection),
  MAX_SUBSCRIPTIONS_PER_KEY: positiveInt(SUBSCRIPTION_QUOTA_DEFAULTS.perKey),
};

/** Which bound refused a subscription: the refusal's `extensions.limit`. */
export type SubscriptionLimit = 'subscriptionsPerConnection' | 'subscriptionsPerKey';

/** What each app counts (its refusal metric), as plain callbacks. */
export interface SubscriptionQuotaEvents {
  /** A subscription was refused RATE_LIMITED by `limit`. */
  refused?(limit: SubscriptionLimit): void;
}

/** Seconds a refused subscriber is told to wait (a slot frees when one of its subscriptions ends). */
const RETRY_AFTER_SECONDS = 5;

/**
 * Live subscriptions per connection (on this replica: a connection lives on one) and per API key (across all
 * replicas, through SharedSubscriptionSlots in Redis). A slot is taken before the subscription opens and given
 * back exactly once when it ends, however it ends. Refusals are CallerAuthError: each transport answers them with
 * its own GraphQL error (same code, message and extensions).
 */
export class SubscriptionQuota {
  private readonly perConnection = new Map<object, number>();

  constructor(
    readonly maxPerConnection: number,
    readonly maxPerKey: number,
    private readonly slots: SharedSubscriptionSlots,
    private readonly events: SubscriptionQuotaEvents = {},
  ) {}

  /**
   * Throws CallerAuthError RATE_LIMITED when either limit is reached (`extensions.limit` names which), UNAVAILABLE
   * when the shared per-key count cannot be reached (fail closed: never unlimited); returns the release function.
   */
  async acquire(connection: object, keyId: string): Promise<() => void> {
    const c = this.perConnection.get(connection) ?? 0;
    if (c >= this.maxPerConnection)
      throw this.refuse(
        'subscriptionsPerConnection',
        `at most ${this.maxPerConnection} subscriptions per connection`,
      );
    // Taken before the await so concurrent subscribes on one connection cannot pass the check together.
    this.perConnection.set(connection, c + 1);
    let releaseKey: (() => void) | null;
    try {
      releaseKey = await this.slots.acquire(keyId, this.maxPerKey);
    } catch {
      this.decrement(connection);
      throw new CallerAuthError(
        'UNAVAILABLE',
        'the subscription quota store is unreachable; try again shortly',
        { retryAfterSeconds: RETRY_AFTER_SECONDS },
      );
    }
    if (!releaseKey) {
      this.decrement(connection);
      throw this.refuse('subscriptionsPerKey', `at most ${this.maxPerKey} subscriptions per API key`);
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

  /** The refusal to throw, counted (a refused subscriber only sees its own answer; operators see the rate). */
  private refuse(limit: SubscriptionLimit, message: string): CallerAuthError {
    this.events.refused?.(limit);
    return new CallerAuthError('RATE_LIMITED', message, { limit, retryAfterSeconds: RETRY_AFTER_SECONDS });
  }

  private decrement(connection: object): void {
    const n = (this.perConnection.get(connection) ?? 1) - 1;
    if (n <= 0) this.perConnection.delete(connection);
    else this.perConnection.set(connection, n);
  }
}
