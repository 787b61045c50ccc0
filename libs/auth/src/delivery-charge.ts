/** What the key's bucket answered for a batch of tokens. */
export type ChargeDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** Takes `tokens` from the bucket of `keyId`; rejects when the limiter cannot answer (Redis unreachable). */
export type TakeTokens = (keyId: string, tokens: number) => Promise<ChargeDecision>;

export interface DeliveryChargeOptions {
  take: TakeTokens;
  /** Cost of one token: an operation up to this cost takes one (MAX_QUERY_COST). */
  costPerToken: number;
  /** Most tokens one round trip takes (the bucket's burst: more could never be granted at once). */
  maxBatch: number;
}

/** The key's bucket refused what a subscription's delivered events cost: it ends with RATE_LIMITED. */
export class DeliveryRateLimited extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`rate limit exceeded by the events delivered; retry in ${retryAfterSeconds} s`);
    this.name = 'DeliveryRateLimited';
  }
}

/** The limiter stayed unreachable while a subscription's unpaid events passed one burst: it ends, UNAVAILABLE. */
export class DeliveryChargeUnavailable extends Error {
  constructor() {
    super('rate limiter unavailable; resubscribe with after: the last cursor received');
    this.name = 'DeliveryChargeUnavailable';
  }
}

/** Why a charge ended its subscription, told once. */
export type DeliveryEnd = (error: DeliveryRateLimited | DeliveryChargeUnavailable) => void;

/**
 * The error a subscription ended by its charge gives its client, wherever it was charged (our gateway, a subgraph's
 * direct caller): RATE_LIMITED with `limit: "subscriptionEvents"` and `retryAfterSeconds`, or UNAVAILABLE; both with
 * `resumeAfter`, the cursor of the last event delivered (absent before the first), to resubscribe with `after:`.
 */
export function deliveryEndedAnswer(
  error: DeliveryRateLimited | DeliveryChargeUnavailable,
  lastCursor: string | undefined,
): { code: 'RATE_LIMITED' | 'UNAVAILABLE'; message: string; extensions: Record<string, unknown> } {
  const resume = lastCursor ? { resumeAfter: lastCursor } : {};
  if (error instanceof DeliveryChargeUnavailable)
    return { code: 'UNAVAILABLE', message: error.message, extensions: resume };
  return {
    code: 'RATE_LIMITED',
    message: `${error.message}; resubscribe with after: the last cursor received`,
    extensions: { limit: 'subscriptionEvents', retryAfterSeconds: error.retryAfterSeconds, ...resume },
  };
}

/**
 * Charges the events one client subscription is sent (the forwarder calls `delivered` as each reaches it, written
 * or queued: StreamMember.onReceived) to its key's token bucket, as if the events had been
 * fetched by queries: the static cost check counts a subscription's selection once, but it is delivered once per
 * event, without bound. Each delivered event adds its cost (the operation's measured per-event cost); each time
 * the sum reaches `costPerToken`, the whole tokens are taken — one round trip per batch, never one per event (a
 * cheap selection, cost 3 of 25,000, pays a token per ~8,000 events), at most one in flight (events delivered
 * meanwhile join the next batch). Events are never held back for the answer: a refusal ends the subscription
 * after the events delivered up to then (`onEnd`). Pure arithmetic and one callback: no Redis, GraphQL or timers.
 *
 * The limiter unreachable: the tokens stay owed and are tried again with the next whole token (a Redis blip ends no
 * subscription, as the credential watch does not close sockets on one); once more than a burst is owed
 * (what the key could not have taken without a refusal either) it ends with DeliveryChargeUnavailable.
 *
 * Used where an API key's subscription events leave: our gateway's forwarder, and a subgraph's graphql-ws server
 * for the keys that call it directly (SubgraphAuthenticator.deliveryCharge).
 */
export class DeliveryCharge {
  /** Cost delivered and not yet taken as tokens (integer arithmetic: no drift over millions of events). */
  private owedCost = 0;
  /** Whole tokens owed: not taken yet (a batch in flight, past one burst, or the limiter failed). */
  private owedTokens = 0;
  private inFlight = false;
  /**
   * open: events are delivered and charged. closed: the subscription ended otherwise (completed, the client
   * left): the whole tokens its events cost are still taken, a refusal ends nothing. done: nothing more.
   */
  private state: 'open' | 'closed' | 'done' = 'open';

  constructor(
    private readonly options: DeliveryChargeOptions,
    private readonly keyId: string,
    /** What one event costs (the operation's measured cost). */
    private readonly eventCost: number,
    private readonly onEnd: DeliveryEnd,
  ) {}

  /** Tokens taken so far (for tests and logs). */
  taken = 0;

  /** One event was delivered to the client. */
  delivered(): void {
    if (this.state !== 'open') return;
    this.owedCost += this.eventCost;
    if (!this.inFlight && this.owedCost >= this.options.costPerToken) this.charge();
  }

  /**
   * The subscription ended otherwise: what it was sent is still paid (a replay delivered in one burst ends before
   * any answer comes back), then nothing more. A cost under one token is not charged.
   */
  close(): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    if (!this.inFlight) this.charge();
  }

  private charge(): void {
    const { costPerToken, maxBatch, take } = this.options;
    const whole = Math.floor(this.owedCost / costPerToken);
    this.owedCost -= whole * costPerToken;
    this.owedTokens += whole;
    const tokens = Math.min(this.owedTokens, maxBatch);
    if (tokens <= 0) {
      if (this.state === 'closed') this.state = 'done';
      return;
    }
    this.inFlight = true;
    take(this.keyId, tokens).then(
      (decision) => {
        this.inFlight = false;
        if (this.state === 'done') return;
        if (!decision.allowed) {
          // closed: the bucket is empty, the next operation of the key is refused anyway
          if (this.state === 'open') this.end(new DeliveryRateLimited(decision.retryAfterSeconds));
          else this.state = 'done';
          return;
        }
        this.owedTokens -= tokens;
        this.taken += tokens;
        if (this.owedTokens > 0 || this.owedCost >= costPerToken || this.state === 'closed') this.charge();
      },
      () => {
        this.inFlight = false;
        // still owed: tried again once the next whole token is delivered
        if (this.state === 'closed') this.state = 'done';
        else if (this.state === 'open' && this.owedTokens > maxBatch)
          this.end(new DeliveryChargeUnavailable());
      },
    );
  }

  private end(error: DeliveryRateLimited | DeliveryChargeUnavailable): void {
    this.state = 'done';
    this.onEnd(error);
  }
}
