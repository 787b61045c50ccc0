/**
 * Bytes of subscription events one API key may have the gateway hold for it (per replica): events queued for its
 * subscribers that their sockets have not taken yet, and the replay history of the shared streams it opened.
 *
 * Why: a subscriber's buffer is bounded in events (SUBSCRIBER_BUFFER), not bytes, and an event is as large as
 * its selection makes it (a job's 16 KB of labels, its 200 nodes): a client that stops reading its sockets made
 * the gateway hold up to 512 such events per subscription, for every one of its up to 1,000 subscriptions — the
 * gateway's heap is 4 GB. (Their rate-limit charge, taken as events reach a subscription, bounds the work; this
 * bounds the memory held meanwhile.)
 */
export interface BufferBudget {
  /** Takes `bytes` when they fit under the key's bound; false (nothing taken) when they do not. */
  tryTake(bytes: number): boolean;
  /** Takes `bytes` whatever the bound (terminal events: they end the stream anyway). */
  take(bytes: number): void;
  give(bytes: number): void;
  readonly max: number;
}

/** A key's subscribers hold more than the key's bound: the subscription ends, its client resumes (UNAVAILABLE). */
export class BufferBudgetExceeded extends Error {
  constructor(readonly max: number) {
    super(`this API key's subscriptions hold more than ${max} bytes of events their clients have not read`);
    this.name = 'BufferBudgetExceeded';
  }
}

/** The budgets of every key, in one map: an entry lives while its key holds bytes. */
export class KeyBufferBudgets {
  private readonly used = new Map<string, number>();

  constructor(
    /** 0: no bound. */
    readonly maxBytes: number,
  ) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw new Error('the buffered-bytes bound must be a non-negative integer');
  }

  /** Bytes held for `keyId` now. */
  usedBy(keyId: string): number {
    return this.used.get(keyId) ?? 0;
  }

  /** Keys holding bytes now (for tests: every byte taken is given back). */
  get keys(): number {
    return this.used.size;
  }

  for(keyId: string): BufferBudget {
    const add = (bytes: number) => {
      const next = this.usedBy(keyId) + bytes;
      if (next > 0) this.used.set(keyId, next);
      else this.used.delete(keyId);
    };
    return {
      max: this.maxBytes,
      tryTake: (bytes) => {
        if (this.maxBytes > 0 && this.usedBy(keyId) + bytes > this.maxBytes) return false;
        add(bytes);
        return true;
      },
      take: (bytes) => add(bytes),
      give: (bytes) => add(-bytes),
    };
  }
}
