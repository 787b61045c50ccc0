/** What re-verifying a connection's credential found: `unknown` when it could not tell (Redis trouble). */
export type CredentialVerdict = 'valid' | 'invalid' | 'unknown';

/** A long-lived connection (a graphql-ws socket) authenticated once, when it opened. */
export interface WatchedConnection {
  /**
   * What its credential is re-verified by: the API key's id (a key's connections share one check), or
   * undefined for a credential that only expires (a JWT: `expiresAtMs`).
   */
  keyId?: string;
  /** When the credential stops being valid (a JWT's exp), in ms since the epoch. */
  expiresAtMs?: number;
  /** Re-verifies the credential without charging anything (no rate-limit token). */
  verify(): Promise<CredentialVerdict>;
  /** Ends the connection (4403): its credential no longer holds. */
  close(reason: string): void;
}

export interface ConnectionCredentialWatchOptions {
  /**
   * How often every watched key is re-verified: the bound on a revoked key's connections when its revocation
   * message was lost (a verifier with a cache answers from it, so this reads Redis once per key per TTL).
   */
  intervalMs: number;
  onError?: (err: unknown) => void;
}

/**
 * Ends the connections whose credential no longer holds, as an HTTP request would be refused: a revoked API
 * key's as soon as its revocation message arrives (`revoked`) and otherwise within `intervalMs`; an
 * expiring credential's at its expiry. A verdict of `unknown` keeps the connection (an unreachable Redis
 * is not a revocation).
 */
export class ConnectionCredentialWatch {
  private readonly byKey = new Map<string, Set<WatchedConnection>>();
  private readonly expiries = new Map<WatchedConnection, NodeJS.Timeout>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: ConnectionCredentialWatchOptions) {}

  start(): void {
    this.timer ??= setInterval(() => {
      for (const keyId of this.byKey.keys()) this.recheck(keyId);
    }, this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const t of this.expiries.values()) clearTimeout(t);
    this.expiries.clear();
    this.byKey.clear();
  }

  add(c: WatchedConnection): void {
    if (c.keyId !== undefined) {
      const set = this.byKey.get(c.keyId) ?? new Set();
      set.add(c);
      this.byKey.set(c.keyId, set);
    }
    if (c.expiresAtMs !== undefined) this.expireAt(c, c.expiresAtMs);
  }

  delete(c: WatchedConnection): void {
    if (c.keyId !== undefined) {
      const set = this.byKey.get(c.keyId);
      set?.delete(c);
      if (set?.size === 0) this.byKey.delete(c.keyId);
    }
    clearTimeout(this.expiries.get(c));
    this.expiries.delete(c);
  }

  /** A revocation message named this key (or its cache forgot it): its connections are re-verified now. */
  revoked(keyId: string): void {
    if (this.byKey.has(keyId)) this.recheck(keyId);
  }

  /** How many connections are watched (tests, metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.byKey.values()) n += set.size;
    return n;
  }

  private recheck(keyId: string): void {
    const set = this.byKey.get(keyId);
    const first = set?.values().next().value;
    if (!first) return;
    first.verify().then(
      (verdict) => {
        if (verdict !== 'invalid') return;
        for (const c of [...(this.byKey.get(keyId) ?? [])]) this.end(c, 'API key revoked');
      },
      (err: unknown) => this.o.onError?.(err),
    );
  }

  private expireAt(c: WatchedConnection, at: number): void {
    // setTimeout waits at most 2^31 - 1 ms (≈ 24.8 days): a later expiry is scheduled again then
    const delay = Math.max(0, Math.min(at - Date.now(), 2 ** 31 - 1));
    const t = setTimeout(() => {
      this.expiries.delete(c);
      if (Date.now() >= at) this.end(c, 'credential expired');
      else this.expireAt(c, at);
    }, delay);
    t.unref();
    this.expiries.set(c, t);
  }

  private end(c: WatchedConnection, reason: string): void {
    this.delete(c);
    c.close(reason);
  }
}
