import type { Redis } from 'ioredis';
import { parseApiKey } from './api-key.js';
import {
  API_KEY_REVOCATIONS_CHANNEL,
  ApiKeyError,
  checkApiKeyRecord,
  lastUsedIsDue,
  type ApiKeyRecord,
  type ApiKeyStore,
  type VerifiedApiKey,
} from './api-key-store.js';

/** ApiKeyStore, or the CachedApiKeyVerifier in front of it. */
export interface ApiKeyVerifier {
  verify(presented: string): Promise<VerifiedApiKey>;
  /** Revocations as they are pushed (CachedApiKeyVerifier); a verifier without a push has none. */
  onRevoked?(listener: (keyId: string) => void): () => void;
}

export interface ApiKeyCacheOptions {
  /**
   * How long a record read from Redis answers without reading it again. It bounds how long a revoked key
   * stays usable when a revocation message is lost while the subscription looks healthy (a silent network
   * failure): keep it at a second or less. 0 turns the cache off.
   */
  ttlMs: number;
  /** Records kept at most (oldest out first). */
  maxEntries: number;
  now?: () => number;
  /** Failures that would otherwise be silent (lastUsedAt writes, the subscription). */
  onError?: (what: string, err: unknown) => void;
  /** The cache stopped (false) or started again (true) answering, e.g. when the subscription dropped. */
  onLiveChange?: (live: boolean) => void;
}

/**
 * The cache's hooks as every app logs them: failures at error, the cache going off at warn (keys are then read
 * per request) and back on at info; `onLiveChange` adds what else the app does (the gateway's metric).
 */
export function loggedApiKeyCacheHooks(
  logger: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  },
  onLiveChange?: (live: boolean) => void,
): Pick<ApiKeyCacheOptions, 'onError' | 'onLiveChange'> {
  return {
    onError: (what, err) =>
      logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        `API key cache: ${what} failed`,
      ),
    onLiveChange: (live) => {
      onLiveChange?.(live);
      if (live) logger.info({}, 'API key cache on (revocations subscribed)');
      else logger.warn({}, 'API key revocations unsubscribed: API keys are read from Redis on every request');
    },
  };
}

interface Entry {
  record: ApiKeyRecord;
  /** When the record was read (ms). */
  readAt: number;
  /** lastUsedAt as last written or read (ms), so it is written at most once per interval. */
  lastUsedMs: number | undefined;
}

/**
 * Verifies API keys without a Redis round trip per request: records are cached by key id (the secret is
 * still hashed and compared on every request), for at most `ttlMs`, and only while the subscription to
 * API_KEY_REVOCATIONS_CHANNEL is up. A revocation (ApiKeyStore.revoke publishes it in the same MULTI) drops
 * the key on every replica within milliseconds. When the subscription connection drops or Redis restarts,
 * the cache is emptied and bypassed (every request reads Redis, as without a cache) until the channel is
 * subscribed again; a read that started before a revocation or a drop is answered but not cached. lastUsedAt
 * keeps its once-a-minute write, off the request path.
 */
export class CachedApiKeyVerifier implements ApiKeyVerifier {
  private readonly entries = new Map<string, Entry>();
  /** Loads in flight per key id: concurrent misses share one HGETALL. */
  private readonly loading = new Map<string, Promise<ApiKeyRecord | null>>();
  /** Bumped by every revocation message and every drop: a load that saw it change is not cached. */
  private epoch = 0;
  private live = false;
  private closed = false;
  private readonly revokedListeners = new Set<(keyId: string) => void>();
  private readonly now: () => number;

  constructor(
    private readonly store: ApiKeyStore,
    /** A connection of its own (it enters subscriber mode); closed by the owner after `close()`. */
    private readonly subscriber: Redis,
    private readonly options: ApiKeyCacheOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Whether cached records answer right now (subscribed and not closed). */
  get isLive(): boolean {
    return this.live;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Subscribes (resolves once subscribed, or at once when the cache is off) and follows reconnects. */
  async start(): Promise<void> {
    if (this.options.ttlMs <= 0) return;
    this.subscriber.on('message', (channel: string, id: string) => {
      if (channel === API_KEY_REVOCATIONS_CHANNEL) this.forget(id);
    });
    // Any end of the connection may have lost messages: stop answering from the cache at once.
    for (const event of ['close', 'end', 'reconnecting'] as const)
      this.subscriber.on(event, () => this.setLive(false));
    // ioredis re-subscribes on reconnect by itself; we subscribe again too, to know when it is confirmed.
    this.subscriber.on('ready', () => void this.subscribe());
    await this.subscribe();
  }

  /** Stops answering from the cache (the owner quits the subscriber connection). */
  close(): void {
    this.closed = true;
    this.live = false;
    this.entries.clear();
  }

  /**
   * Calls `listener` with the key id of every revocation seen here (a message, or the local admin API), after
   * the key was dropped: long-lived connections of that key are re-verified at once. Returns an unsubscribe.
   */
  onRevoked(listener: (keyId: string) => void): () => void {
    this.revokedListeners.add(listener);
    return () => void this.revokedListeners.delete(listener);
  }

  /** Drops one key (a revocation seen here: the local admin API, or a message). */
  forget(id: string): void {
    this.epoch++;
    this.entries.delete(id);
    for (const listener of this.revokedListeners) listener(id);
  }

  /** Resolves a presented key to its tenant and scopes, or throws ApiKeyError (as ApiKeyStore.verify). */
  async verify(presented: string): Promise<VerifiedApiKey> {
    if (!this.live) return this.store.verify(presented);
    const parts = parseApiKey(presented);
    if (!parts) throw new ApiKeyError('MALFORMED', 'malformed API key');
    const now = this.now();
    let entry = this.entries.get(parts.id);
    if (!entry || now - entry.readAt >= this.options.ttlMs) entry = await this.load(parts.id, now);
    const verified = checkApiKeyRecord(entry?.record ?? null, parts.secret);
    if (entry && lastUsedIsDue(entry.lastUsedMs, now)) {
      entry.lastUsedMs = now;
      this.store.touch(verified.id).catch((err: unknown) => this.options.onError?.('lastUsedAt write', err));
    }
    return verified;
  }

  private async load(id: string, now: number): Promise<Entry | undefined> {
    let pending = this.loading.get(id);
    if (!pending) {
      const epoch = this.epoch;
      pending = this.store.get(id).finally(() => this.loading.delete(id));
      this.loading.set(id, pending);
      const record = await pending;
      if (!record) return undefined;
      const entry: Entry = {
        record,
        readAt: now,
        lastUsedMs: record.lastUsedAt ? Date.parse(record.lastUsedAt) : undefined,
      };
      // Only what was read with nothing revoked or lost meanwhile may answer later requests.
      if (this.live && epoch === this.epoch) this.remember(id, entry);
      return entry;
    }
    const record = await pending;
    return record ? (this.entries.get(id) ?? { record, readAt: now, lastUsedMs: now }) : undefined;
  }

  private remember(id: string, entry: Entry): void {
    this.entries.delete(id);
    if (this.entries.size >= this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(id, entry);
  }

  private async subscribe(): Promise<void> {
    if (this.closed) return;
    try {
      await this.subscriber.subscribe(API_KEY_REVOCATIONS_CHANNEL);
      // Whatever was cached before may have missed messages while the channel was down.
      if (this.subscriber.status === 'ready' && !this.closed) this.setLive(true);
    } catch (err) {
      this.options.onError?.('revocation channel subscribe', err);
    }
  }

  private setLive(live: boolean): void {
    if (live === this.live || this.closed) return;
    this.live = live;
    this.epoch++;
    this.entries.clear();
    this.options.onLiveChange?.(live);
  }
}
