/**
 * Bytes of subscription events the gateway holds for its clients (per replica), bounded per API key and in all:
 * events queued for a key's subscribers, the replay history of the shared streams it opened, and the frames
 * written to its connections that their sockets have not taken yet (node's user-space send buffer: up to
 * CLIENT_HIGH_WATER_BYTES and a frame per connection, for up to MAX_CONNECTIONS_PER_KEY connections).
 *
 * Why: a subscriber's buffer is bounded in events (SUBSCRIBER_BUFFER), not bytes, and an event is as large as
 * its selection makes it (a job's 16 KB of labels, its 200 nodes): a client that stops reading its sockets made
 * the gateway hold up to 512 such events per subscription, for every one of its up to 1,000 subscriptions — the
 * gateway's heap is 4 GB. (Their rate-limit charge, taken as events reach a subscription, bounds the work; this
 * bounds the memory held meanwhile.) The bound per key alone lets N keys hold N times it, hence the total: once
 * the total is reached, a key holding more than an equal share of it is refused first (max-min fairness), so
 * the keys that hold a little — readers that keep up — go on.
 */
export interface BufferBudget {
  /** Takes `bytes` when they fit under the bounds; otherwise takes nothing and says which bound refused. */
  tryTake(bytes: number): BufferBudgetExceeded | null;
  /** Takes `bytes` whatever the bounds (terminal events: they end the stream anyway). */
  take(bytes: number): void;
  give(bytes: number): void;
}

/** Which bound refused: one key's, or the replica's total (see KeyBufferBudgets). */
export type BufferedBytesLimit = 'bufferedBytesPerKey' | 'bufferedBytesTotal';

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

export interface KeyBufferBounds {
  /** BUFFERED_BYTES_PER_KEY; 0: no bound per key. */
  perKey: number;
  /** BUFFERED_BYTES_TOTAL; 0: no bound in all. */
  total: number;
}

/** The budgets of every key, in one map: an entry lives while its key holds bytes. */
export class KeyBufferBudgets {
  private readonly used = new Map<string, number>();
  private totalUsed = 0;

  constructor(readonly bounds: KeyBufferBounds) {
    for (const [name, value] of Object.entries(bounds))
      if (!Number.isSafeInteger(value) || value < 0)
        throw new Error(`the buffered-bytes bound ${name} must be a non-negative integer`);
  }

  /** Bytes held for `keyId` now. */
  usedBy(keyId: string): number {
    return this.used.get(keyId) ?? 0;
  }

  /** Bytes held for every key now. */
  get total(): number {
    return this.totalUsed;
  }

  /** Keys holding bytes now (for tests: every byte taken is given back). */
  get keys(): number {
    return this.used.size;
  }

  for(keyId: string): BufferBudget {
    const add = (bytes: number) => {
      const next = this.usedBy(keyId) + bytes;
      this.totalUsed += bytes;
      if (next > 0) this.used.set(keyId, next);
      else this.used.delete(keyId);
    };
    return {
      tryTake: (bytes) => {
        const refused = this.refusal(keyId, bytes);
        if (!refused) add(bytes);
        return refused;
      },
      take: (bytes) => add(bytes),
      give: (bytes) => add(-bytes),
    };
  }

  private refusal(keyId: string, bytes: number): BufferBudgetExceeded | null {
    const { perKey, total } = this.bounds;
    const after = this.usedBy(keyId) + bytes;
    if (perKey > 0 && after > perKey) return new BufferBudgetExceeded('bufferedBytesPerKey', perKey);
    if (total > 0 && this.totalUsed + bytes > total) {
      // the total is reached: only a key above an equal share of it is refused (holders counted with this one)
      const holders = this.used.size + (this.used.has(keyId) ? 0 : 1);
      if (after > total / holders) return new BufferBudgetExceeded('bufferedBytesTotal', total);
    }
    return null;
  }
}
