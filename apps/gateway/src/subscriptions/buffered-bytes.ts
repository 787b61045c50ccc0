import { ByteBudgets, type ByteBound } from '#libs/backpressure';

/**
 * Bytes of subscription events the gateway holds for its clients (per replica), bounded per API key
 * (BUFFERED_BYTES_PER_KEY) and for every key together (BUFFERED_BYTES_TOTAL; past it the keys above an equal
 * share are refused first, ByteBudgets): events queued for a key's subscribers, the replay history of the shared
 * streams it opened, the events of its streams between arrival and hand-off (resolving-bytes.ts), and the frames
 * written to its connections that their sockets have not taken yet (node's user-space send buffer: up to
 * CLIENT_HIGH_WATER_BYTES and a frame per connection, for up to MAX_CONNECTIONS_PER_KEY connections). A refusal
 * ends that subscription (UNAVAILABLE, its client resumes).
 *
 * Why: a subscriber's buffer is bounded in events (SUBSCRIBER_BUFFER), not bytes, and an event is as large as
 * its selection makes it (a job's 16 KB of labels, its 200 nodes): a client that stops reading its sockets made
 * the gateway hold up to 512 such events per subscription, for every one of its up to 1,000 subscriptions — the
 * gateway's heap is 4 GB. (Their rate-limit charge, taken as events reach a subscription, bounds the work; this
 * bounds the memory held meanwhile.) The bound per key alone lets N keys hold N times it, hence the total.
 */
export interface BufferBudget {
  /** Takes `bytes` when they fit under the bounds; otherwise takes nothing and says which bound refused. */
  tryTake(bytes: number): BufferBudgetExceeded | null;
  /** Takes `bytes` whatever the bounds (terminal events: they end the stream anyway). */
  take(bytes: number): void;
  give(bytes: number): void;
}

/** Which bound refused, as the answer's `extensions.limit` and the refusal metric name it. */
export type BufferedBytesLimit = 'bufferedBytesPerKey' | 'bufferedBytesTotal';

const LIMIT_OF: Record<ByteBound, BufferedBytesLimit> = {
  perOwner: 'bufferedBytesPerKey',
  total: 'bufferedBytesTotal',
};

/** The bytes held for a key pass a bound: the subscription ends, its client resumes (UNAVAILABLE). */
export class BufferBudgetExceeded extends Error {
  constructor(
    readonly limit: BufferedBytesLimit,
    readonly max: number,
  ) {
    super(
      limit === 'bufferedBytesPerKey'
        ? `this API key's subscriptions hold more than ${max} bytes of events their clients have not read`
        : `this gateway holds more than ${max} bytes of events clients have not read, this API key's subscriptions the most`,
    );
    this.name = 'BufferBudgetExceeded';
  }
}

/** The budgets of every API key on this replica. */
export class KeyBufferBudgets {
  private readonly budgets: ByteBudgets;

  constructor(bounds: { perKey: number; total: number }) {
    this.budgets = new ByteBudgets({ perOwner: bounds.perKey, total: bounds.total });
  }

  /** Bytes held for `keyId` now. */
  usedBy(keyId: string): number {
    return this.budgets.usedBy(keyId);
  }

  /** Bytes held for every key now. */
  get total(): number {
    return this.budgets.total;
  }

  /** Keys holding bytes now (for tests: every byte taken is given back). */
  get keys(): number {
    return this.budgets.owners;
  }

  for(keyId: string): BufferBudget {
    const budget = this.budgets.for(keyId);
    return {
      tryTake: (bytes) => {
        const refused = budget.tryTake(bytes);
        return refused && new BufferBudgetExceeded(LIMIT_OF[refused], this.budgets.bounds[refused]);
      },
      take: budget.take,
      give: budget.give,
    };
  }
}
