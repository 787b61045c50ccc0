/**
 * Coalesces the lookups made in one tick into one batched load. @apollo/subgraph calls `__resolveReference`
 * once per representation, synchronously in one loop, so every representation of an `_entities` request
 * lands in the same batch and the batch costs one pipelined Redis round trip instead of one per entity.
 * One batcher per request (it is keyed by the request's context), so batches never mix callers.
 *
 * `after: 'immediate'` waits for the end of the event loop turn instead of the microtask queue: field resolvers
 * with arguments start a few microtasks later than those without (type-graphql resolves arguments
 * asynchronously), and this still gathers both of a whole `_entities` batch into one load.
 */
export class TickBatcher<K, V> {
  private pending: Array<{ key: K; resolve: (v: V) => void; reject: (e: unknown) => void }> = [];

  constructor(
    private readonly loadMany: (keys: K[]) => Promise<V[]>,
    private readonly after: 'microtask' | 'immediate' = 'microtask',
  ) {}

  load(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.pending.push({ key, resolve, reject });
      if (this.pending.length !== 1) return;
      if (this.after === 'immediate') setImmediate(() => void this.flush());
      else queueMicrotask(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const values = await this.loadMany(batch.map((p) => p.key));
      if (values.length !== batch.length)
        throw new Error(`batch load returned ${values.length} values for ${batch.length} keys`);
      batch.forEach((p, i) => p.resolve(values[i]!));
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }
}

/** One batcher per request context object (WeakMap: it goes away with the request). */
export function perRequest<C extends object, K, V>(
  create: (ctx: C) => TickBatcher<K, V>,
): (ctx: C) => TickBatcher<K, V> {
  const batchers = new WeakMap<C, TickBatcher<K, V>>();
  return (ctx) => {
    let b = batchers.get(ctx);
    if (!b) batchers.set(ctx, (b = create(ctx)));
    return b;
  };
}
