import { createHash } from 'node:crypto';

/**
 * A least-recently-used cache bounded by the bytes of what it holds (an estimate given per entry), keyed
 * by a SHA-256 of the caller's key parts: client documents are keys, so neither their number nor their
 * size can grow the gateway's memory past the bound.
 */
export class ByteLruCache<V> {
  /** Insertion order is recency order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private total = 0;

  constructor(readonly maxBytes: number) {}

  static key(...parts: string[]): string {
    const h = createHash('sha256');
    for (const p of parts)
      h.update(String(Buffer.byteLength(p)))
        .update(':')
        .update(p);
    return h.digest('base64url');
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  /** Stores unless the entry alone is larger than the bound; evicts the least recently used past it. */
  set(key: string, value: V, bytes: number): void {
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.total -= old.bytes;
    }
    if (bytes > this.maxBytes) return;
    this.entries.set(key, { value, bytes });
    this.total += bytes;
    for (const [k, e] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(k);
      this.total -= e.bytes;
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }
}
