/**
 * Bytes held on behalf of many owners (API keys, tenants), bounded per owner and in all: the memory a process
 * keeps for subscribers that do not read (the gateway's unread events, the jobs subgraph's readahead). Once the
 * total is reached, an owner holding more than an equal share of it (the total ÷ the owners holding bytes, this
 * one counted) is refused first — max-min fairness — so the owners that hold a little, readers that keep up, go
 * on; what those take may pass the total by at most a share each. What a refusal means (a subscription cut, a
 * read paused) is the caller's.
 */
export interface ByteBounds {
  /** Per owner; 0: no bound. */
  perOwner: number;
  /** Every owner together; 0: no bound. */
  total: number;
}

/** Which bound refused. */
export type ByteBound = keyof ByteBounds;

/** One owner's share of a ByteBudgets. */
export interface OwnerBudget {
  /** Takes `bytes` when they fit; otherwise takes nothing and says which bound refused. */
  tryTake(bytes: number): ByteBound | null;
  /** Takes `bytes` whatever the bounds (what is held already, or must be). */
  take(bytes: number): void;
  give(bytes: number): void;
}

export class ByteBudgets {
  private readonly used = new Map<string, number>();
  private totalUsed = 0;

  constructor(readonly bounds: ByteBounds) {
    for (const [name, value] of Object.entries(bounds))
      if (!Number.isSafeInteger(value) || value < 0)
        throw new Error(`the byte bound ${name} must be a non-negative integer`);
  }

  /** Bytes held for `owner` now. */
  usedBy(owner: string): number {
    return this.used.get(owner) ?? 0;
  }

  /** Bytes held for every owner now. */
  get total(): number {
    return this.totalUsed;
  }

  /** Owners holding bytes now (for tests: every byte taken is given back). */
  get owners(): number {
    return this.used.size;
  }

  for(owner: string): OwnerBudget {
    const add = (bytes: number) => {
      const next = this.usedBy(owner) + bytes;
      this.totalUsed += bytes;
      if (next > 0) this.used.set(owner, next);
      else this.used.delete(owner);
    };
    return {
      tryTake: (bytes) => {
        const refused = this.refusal(owner, bytes);
        if (!refused) add(bytes);
        return refused;
      },
      take: add,
      give: (bytes) => add(-bytes),
    };
  }

  private refusal(owner: string, bytes: number): ByteBound | null {
    const { perOwner, total } = this.bounds;
    const after = this.usedBy(owner) + bytes;
    if (perOwner > 0 && after > perOwner) return 'perOwner';
    if (total > 0 && this.totalUsed + bytes > total) {
      const holders = this.used.size + (this.used.has(owner) ? 0 : 1);
      if (after > total / holders) return 'total';
    }
    return null;
  }
}
