import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { REDIS_PREFIX } from '#libs/contracts';
import { defineScripts, redisNowMs } from '#libs/redis';

/**
 * Live subscription slots of one API key (sorted set), shared by every replica that counts them: the gateway's for
 * its clients, the jobs subgraph's for callers that did not come through the gateway, so one key has one bound
 * whichever way it comes in (as its token bucket). One member per live subscription, `<replicaId>:<slotId>`,
 * scored by its expiry (ms, Redis server clock).
 */
export const subscriptionSlotsKey = (keyId: string) => `${REDIS_PREFIX}:subslots:${keyId}`;
/** Open graphql-ws connections of one API key (the gateway's connection bound), kept the same way. */
export const connectionSlotsKey = (keyId: string) => `${REDIS_PREFIX}:connslots:${keyId}`;

/** A slot's lifetime without a heartbeat from its replica: how long a crashed replica's slots stay counted. */
export const DEFAULT_SLOT_TTL_MS = 30_000;

/** Acquire (drop expired slots, take one under the limit) and refresh, each one step timed by the Redis clock. */
export const SUBSCRIPTION_SLOT_SCRIPTS = defineScripts({
  label: 'subscription slots',
  dir: new URL('./lua/', import.meta.url),
  names: ['acquireSlots', 'refreshSlots'] as const,
});

/** Members per refresh call (Lua's unpack/argument limits are far above; keeps one call short). */
const REFRESH_CHUNK = 500;
/** Slots asked for in one acquire call, at most. */
const ACQUIRE_CHUNK = 500;

interface SlotWaiter {
  member: string;
  resolve(release: (() => void) | null): void;
  reject(error: unknown): void;
}

export interface SharedSlotsLogger {
  warn(obj: object, msg: string): void;
}

export interface SharedSubscriptionSlotsOptions {
  /** Slot lifetime without a heartbeat (default DEFAULT_SLOT_TTL_MS); the heartbeat runs every third of it. */
  ttlMs?: number;
  /** Bound on one acquire round trip; past it the acquire fails like an unreachable Redis. */
  timeoutMs?: number;
  logger?: SharedSlotsLogger;
  /** The sorted set of a key's slots (default subscriptionSlotsKey): another name counts another kind of slot. */
  redisKey?: (keyId: string) => string;
}

export class SlotsUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`subscription slots unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/**
 * The per-key subscription count across all replicas, in Redis. This replica remembers the slots it
 * holds and refreshes them all with one heartbeat (one call per key, not per subscription); a replica that
 * dies stops refreshing and its slots expire after the TTL. Release removes the slot at once.
 */
export class SharedSubscriptionSlots {
  readonly replicaId = randomUUID();
  readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly logger?: SharedSlotsLogger;
  private readonly redisKey: (keyId: string) => string;
  /** keyId → members this replica holds. */
  private readonly held = new Map<string, Set<string>>();
  private nextSlot = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private refreshing = false;
  /** Acquires of this turn of the event loop, by limit and key. */
  private readonly pending = new Map<string, { keyId: string; limit: number; waiters: SlotWaiter[] }>();

  constructor(
    private readonly redis: Redis,
    opts: SharedSubscriptionSlotsOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_SLOT_TTL_MS;
    this.timeoutMs = opts.timeoutMs ?? 2_000;
    this.logger = opts.logger;
    this.redisKey = opts.redisKey ?? subscriptionSlotsKey;
    if (!(this.ttlMs >= 30)) throw new Error('subscription slot TTL must be at least 30 ms');
    this.heartbeat = setInterval(() => void this.refresh(), Math.floor(this.ttlMs / 3));
    this.heartbeat.unref();
  }

  /**
   * Takes a slot of `keyId` if fewer than `limit` are live across replicas. Returns the release function,
   * or null when the key is full; throws SlotsUnavailableError when Redis cannot answer. The acquires of one
   * key made in the same turn of the event loop go to Redis as one step (a burst of thousands of subscribes
   * is a few calls, not thousands each racing the answer deadline); they are granted in call order.
   */
  acquire(keyId: string, limit: number): Promise<(() => void) | null> {
    if (!this.heartbeat) return Promise.reject(new SlotsUnavailableError(new Error('closed')));
    const member = `${this.replicaId}:${++this.nextSlot}`;
    const group = `${limit}\u0000${keyId}`;
    let batch = this.pending.get(group);
    if (!batch) {
      batch = { keyId, limit, waiters: [] };
      this.pending.set(group, batch);
      if (this.pending.size === 1) setImmediate(() => this.flush());
    }
    return new Promise((resolve, reject) => batch.waiters.push({ member, resolve, reject }));
  }

  private flush(): void {
    const batches = [...this.pending.values()];
    this.pending.clear();
    if (!this.heartbeat) {
      const closed = new SlotsUnavailableError(new Error('closed'));
      for (const batch of batches) for (const w of batch.waiters) w.reject(closed);
      return;
    }
    for (const batch of batches)
      for (let i = 0; i < batch.waiters.length; i += ACQUIRE_CHUNK)
        void this.acquireChunk(batch.keyId, batch.limit, batch.waiters.slice(i, i + ACQUIRE_CHUNK));
  }

  private async acquireChunk(keyId: string, limit: number, waiters: SlotWaiter[]): Promise<void> {
    let taken: number;
    try {
      [taken] = await this.withTimeout(
        SUBSCRIPTION_SLOT_SCRIPTS.run(
          this.redis,
          'acquireSlots',
          [this.redisKey(keyId)],
          [limit, this.ttlMs, ...waiters.map((w) => w.member)],
        ) as Promise<[number, number]>,
      );
    } catch (e) {
      // A timed-out call may still write the slots later; never refreshed, they expire after the TTL.
      this.logger?.warn(
        { err: e, keyId, subscribes: waiters.length },
        'subscription slot acquire failed; refusing the subscriptions',
      );
      for (const w of waiters) w.reject(new SlotsUnavailableError(e));
      return;
    }
    waiters.forEach((w, i) => w.resolve(i < taken ? this.granted(keyId, w.member) : null));
  }

  private granted(keyId: string, member: string): () => void {
    // Held only once taken: a heartbeat must never write a slot the limit did not grant.
    this.hold(keyId, member);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.unhold(keyId, member);
      this.redis.zrem(this.redisKey(keyId), member).catch((e: unknown) =>
        // Not refreshed any more: the slot expires after the TTL.
        this.logger?.warn({ err: e, keyId }, 'subscription slot release failed; it expires after the TTL'),
      );
    };
  }

  /** Live slots of a key across replicas (expired ones not counted). */
  async count(keyId: string): Promise<number> {
    const now = await redisNowMs(this.redis);
    return this.redis.zcount(this.redisKey(keyId), `(${now}`, '+inf');
  }

  /** Extends every slot this replica holds by the TTL (the heartbeat; also callable directly). */
  async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      for (const [keyId, members] of [...this.held]) {
        const all = [...members];
        for (let i = 0; i < all.length; i += REFRESH_CHUNK) {
          // Filtered right before the (synchronously queued) call: a slot released meanwhile sent its ZREM
          // earlier on this connection and must not be written back.
          const chunk = all.slice(i, i + REFRESH_CHUNK).filter((m) => members.has(m));
          if (chunk.length === 0) continue;
          await SUBSCRIPTION_SLOT_SCRIPTS.run(
            this.redis,
            'refreshSlots',
            [this.redisKey(keyId)],
            [this.ttlMs, ...chunk],
          );
        }
      }
    } catch (e) {
      this.logger?.warn({ err: e, replicaId: this.replicaId }, 'subscription slot heartbeat failed');
    } finally {
      this.refreshing = false;
    }
  }

  /** Stops the heartbeat and removes this replica's slots (best effort: what is left expires after the TTL). */
  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const held = [...this.held];
    this.held.clear();
    // Bounded: shutdown must not hang on an unresponsive Redis.
    await this.withTimeout(
      Promise.all(held.map(([keyId, members]) => this.redis.zrem(this.redisKey(keyId), ...members))),
    ).catch((e: unknown) =>
      this.logger?.warn({ err: e }, 'subscription slots not removed on close; they expire after the TTL'),
    );
  }

  private hold(keyId: string, member: string): void {
    const set = this.held.get(keyId) ?? new Set<string>();
    set.add(member);
    this.held.set(keyId, set);
  }

  private unhold(keyId: string, member: string): void {
    const set = this.held.get(keyId);
    if (!set) return;
    set.delete(member);
    if (set.size === 0) this.held.delete(keyId);
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }
}
