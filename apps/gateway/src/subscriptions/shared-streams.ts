import type { BufferBudget } from './buffered-bytes.js';
import { BufferOverflow, EventBuffer, type BufferRead } from './event-buffer.js';

/**
 * The sharing core of the subscription forwarder, free of GraphQL, Nest and HTTP: identical subscriptions
 * (the caller decides what identical means and hands a key) share ONE upstream stream, whose items are
 * produced once (one upstream subscription, one entity fetch per event) and handed to every member.
 *
 * - Each member has its own bounded buffer (EventBuffer: progress coalescing past half, terminal items always
 *   queued, overflow ends THAT member with BufferOverflow). A slow member never stalls the stream or the
 *   others: items are pushed, never awaited.
 * - Late joiners: a stream that starts at a position (`replay`: jobEvents from seq 1 or from a cursor) keeps
 *   every item it produced so far (up to `historyLimit`), and a joiner gets that history first, then the live
 *   items, with no gap and no duplicate (history snapshot and registration happen in one synchronous step).
 *   Once a stream's history would pass the limit it drops it and stops taking joiners: the next joiner opens
 *   a new stream (which replays from the upstream's own log). A live-only stream (jobFeed without `after`:
 *   "from now on") keeps no history; a joiner gets what arrives after it joined.
 * - Teardown per member: leaving removes only that member; the last one to leave stops the upstream.
 * - Each member brings a holder (for the forwarder, its request: on whose behalf the upstream runs). The
 *   upstream starts under the first member's; when the member whose holder it runs under leaves (or is dropped
 *   for overflow) while others remain, the upstream is re-homed to the oldest remaining member's
 *   (`SharedUpstream.rehome`). Only a leave does this work: nothing is added per item.
 * - An upstream error or end reaches every member (after the items produced before it).
 * - Bytes (optional, buffered-bytes.ts): a member brings its key's budget; the items queued for it count against
 *   it (past it the member ends with BufferBudgetExceeded, like an overflow), and so does a replayable stream's
 *   history against the budget of the member that opened it (past it the history is dropped, as past
 *   `historyLimit`). What a member leaves queued is given back when it leaves.
 */

/** One item of a shared stream, as produced once for all members. */
export interface SharedItem<T> {
  value: T;
  /** Items with the same key replace each other in a member's buffer under pressure (null: never). */
  coalesceKey: string | null;
  /** Always queued, even past a member's capacity (terminal events: they end the stream anyway). */
  essential: boolean;
  /** Where a client may resume right after this item (reported with an overflow error). */
  cursor?: string;
  /** What the item holds (its JSON's length), counted against budgets while it is queued or kept. */
  bytes?: number;
}

const sizeOfItem = (item: SharedItem<unknown>): number => item.bytes ?? 0;

export interface SharedStreamSink<T> {
  next(item: SharedItem<T>): void;
  error(error: unknown): void;
  complete(): void;
}

/** A running upstream of a shared stream. */
export interface SharedUpstream<H> {
  /** Ends it (called at most once). */
  stop(): void;
  /** The member it ran on behalf of left: go on under `holder` (a remaining member's), same items in order. */
  rehome(holder: H): void;
}

/** Starts the upstream of a new shared stream, under the holder of the member that opened it. */
export type SharedStreamSource<T, H> = (sink: SharedStreamSink<T>) => SharedUpstream<H>;

export interface StreamSharingOptions {
  /** Items one member may have queued (after coalescing) before it is ended with BufferOverflow. */
  bufferCapacity: number;
  /** Items a replayable stream keeps for late joiners; past it the stream takes no more joiners. */
  historyLimit: number;
  /** Items replaced in a member's buffer by a newer one (metrics). */
  onCoalesced?: (count: number) => void;
}

export type MemberRead<T> =
  { kind: 'value'; item: SharedItem<T> } | { kind: 'end' } | { kind: 'error'; error: unknown };

/** One subscriber's view of a shared stream. */
export class StreamMember<T, H = unknown> {
  private replayIndex = 0;
  private left = false;
  /** See `deliverDirectly`. */
  private direct: ((item: SharedItem<T>) => boolean) | null = null;
  /** Set by the reader while it holds an item it has not delivered yet: later items queue behind it. */
  holding = false;
  /**
   * Called for each item this member takes on — handed over directly, queued for it, or replayed to it from the
   * history — whether or not its client ever reads it: the forwarder charges events here, as they were resolved.
   */
  onReceived: (() => void) | null = null;
  /** @internal */
  readonly buffer: EventBuffer<SharedItem<T>>;

  /** @internal */
  constructor(
    private readonly stream: SharedStream<T, H>,
    private readonly replay: readonly SharedItem<T>[],
    capacity: number,
    /** @internal On whose behalf the upstream runs while this member holds it. */
    readonly holder: H,
    /** @internal The bytes its key may have held (see the file comment). */
    readonly budget?: BufferBudget,
  ) {
    this.buffer = new EventBuffer<SharedItem<T>>(
      capacity,
      budget ? { budget, sizeOf: sizeOfItem } : undefined,
    );
  }

  /** Items of this member replaced by a newer one under pressure (for metrics). */
  get coalesced(): number {
    return this.buffer.coalesced;
  }

  /** The next item: the history the member joined with first, then live items; end or error last. */
  async read(): Promise<MemberRead<T>> {
    if (this.left) return { kind: 'end' };
    if (this.replayIndex < this.replay.length) return this.replayed();
    const read: BufferRead<SharedItem<T>> = await this.buffer.read();
    if (this.left) return { kind: 'end' };
    return read.kind === 'value' ? { kind: 'value', item: read.value } : read;
  }

  /** What `read` would give at once, or null when it would wait (no promise: for draining a burst). */
  poll(): MemberRead<T> | null {
    if (this.left) return { kind: 'end' };
    if (this.replayIndex < this.replay.length) return this.replayed();
    const read = this.buffer.poll();
    if (read === null) return null;
    return read.kind === 'value' ? { kind: 'value', item: read.value } : read;
  }

  private replayed(): MemberRead<T> {
    this.onReceived?.();
    return { kind: 'value', item: this.replay[this.replayIndex++]! };
  }

  /** Leaves the stream (idempotent); the last member to leave stops the upstream. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    this.buffer.discard();
    this.stream.remove(this);
  }

  /**
   * Items that arrive while nothing is queued for this member (no history left to replay, an empty buffer, no
   * item held by the reader) are handed to `deliver` at once, in the stream's own step: no promise, no reader
   * wake-up per item. `deliver` returns false to have the item queued instead (the reader then takes it, in
   * order, through `poll`/`read`); the buffer's bound, coalescing and overflow apply to queued items as before.
   */
  deliverDirectly(deliver: (item: SharedItem<T>) => boolean): void {
    this.direct = deliver;
  }

  /** @internal Returns false when the member overflowed (it is then failed and should be dropped). */
  push(item: SharedItem<T>): boolean {
    const taken =
      (this.direct &&
        !this.left &&
        !this.holding &&
        this.replayIndex >= this.replay.length &&
        this.buffer.size === 0 &&
        this.tryDirect(item)) ||
      this.buffer.push(item, item.coalesceKey, item.essential);
    if (taken) this.onReceived?.();
    return taken;
  }

  private tryDirect(item: SharedItem<T>): boolean {
    try {
      return this.direct!(item);
    } catch {
      return false; // queued: the reader meets the same failure and reports it to its own subscriber
    }
  }
}

type StreamState = 'live' | 'ended';

/** @internal One upstream and its members. */
export class SharedStream<T, H> {
  /** In join order: the first one is the oldest, the successor when the upstream's holder leaves. */
  private readonly members = new Set<StreamMember<T, H>>();
  /** Every item so far, for joiners of a replayable stream; null once dropped (or never kept). */
  private history: SharedItem<T>[] | null;
  /** The bytes of `history`, held in `historyBudget` (the opener's). */
  private historyBytes = 0;
  private historyBudget: BufferBudget | undefined;
  private state: StreamState = 'live';
  private upstream: SharedUpstream<H> | null = null;
  /** The member whose holder the upstream runs under. */
  private holding: StreamMember<T, H> | null = null;
  private stopped = false;

  constructor(
    private readonly owner: StreamSharing<T, H>,
    readonly key: string | null,
    readonly replayable: boolean,
  ) {
    this.history = replayable ? [] : null;
  }

  get memberCount(): number {
    return this.members.size;
  }

  /** Whether a new subscriber can join and still get everything its subscription promises. */
  get joinable(): boolean {
    return this.state === 'live' && (!this.replayable || this.history !== null);
  }

  join(holder: H, budget?: BufferBudget): StreamMember<T, H> {
    // Snapshot and registration in one synchronous step: no item falls between history and live.
    const member = new StreamMember<T, H>(
      this,
      this.history ? this.history.slice() : [],
      this.owner.options.bufferCapacity,
      holder,
      budget,
    );
    if (this.members.size === 0) this.historyBudget = budget;
    this.members.add(member);
    this.holding ??= member;
    return member;
  }

  /** No more history: its bytes go back to the opener's budget. */
  private dropHistory(): void {
    this.history = null;
    this.historyBudget?.give(this.historyBytes);
    this.historyBytes = 0;
  }

  /** Called once, right after the first member joined (whose holder the source was made for). */
  start(source: SharedStreamSource<T, H>): void {
    const upstream = source({
      next: (item) => this.next(item),
      error: (error) => this.finish((m) => m.buffer.fail(error)),
      complete: () => this.finish((m) => m.buffer.end()),
    });
    // The source may have ended (or its one member left) before it returned.
    if (this.stopped) upstream.stop();
    else this.upstream = upstream;
  }

  remove(member: StreamMember<T, H>): void {
    if (!this.members.delete(member)) return;
    this.afterRemoval();
  }

  /** The last member gone stops the upstream; the holder gone hands it to the oldest remaining member. */
  private afterRemoval(): void {
    if (this.members.size === 0) {
      this.owner.forget(this);
      this.dropHistory();
      this.stop();
      return;
    }
    if (this.holding && this.members.has(this.holding)) return;
    this.holding = this.members.values().next().value!;
    if (this.state === 'live' && !this.stopped) this.upstream?.rehome(this.holding.holder);
  }

  private next(item: SharedItem<T>): void {
    if (this.state !== 'live' || this.stopped) return;
    if (this.history) {
      const bytes = sizeOfItem(item);
      if (this.history.length < this.owner.options.historyLimit && !this.historyBudget?.tryTake(bytes)) {
        this.history.push(item);
        this.historyBytes += bytes;
      } else {
        // Too long (or too large) to replay from here: members keep going, joiners start a stream of their own.
        this.dropHistory();
        this.owner.forget(this);
      }
    }
    const onCoalesced = this.owner.options.onCoalesced;
    let dropped = false;
    for (const member of this.members) {
      const before = member.coalesced;
      const queued = member.push(item);
      if (onCoalesced && member.coalesced > before) onCoalesced(member.coalesced - before);
      if (!queued) {
        // Overflowed (the member reads its BufferOverflow next) or already gone: it gets nothing more.
        this.members.delete(member);
        dropped = true;
      }
    }
    if (dropped) this.afterRemoval();
  }

  private finish(endMember: (m: StreamMember<T, H>) => void): void {
    if (this.state !== 'live') return;
    this.state = 'ended';
    this.dropHistory();
    this.owner.forget(this);
    for (const member of this.members) endMember(member);
    this.members.clear();
    this.stop();
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const upstream = this.upstream;
    this.upstream = null;
    upstream?.stop();
  }
}

/** Shared streams by key; see the file comment. `H`: what each member brings (see SharedUpstream.rehome). */
export class StreamSharing<T, H = unknown> {
  private readonly streams = new Map<string, SharedStream<T, H>>();
  /** Upstreams opened / members that joined a stream already open (for tests and metrics). */
  opened = 0;
  joinedShared = 0;

  constructor(readonly options: StreamSharingOptions) {
    if (!Number.isInteger(options.historyLimit) || options.historyLimit < 0)
      throw new Error('historyLimit must be a non-negative integer');
  }

  /** Streams open for joiners. */
  get streamCount(): number {
    return this.streams.size;
  }

  /**
   * Joins the open stream of `key`, or opens one with `source` (key null: never shared). `replay`: the
   * subscription promises everything from the stream's start position, so only a stream that can still
   * replay all of it may be joined. `holder`: on whose behalf the upstream may run (see SharedUpstream).
   */
  join(
    key: string | null,
    replay: boolean,
    holder: H,
    source: () => SharedStreamSource<T, H>,
    /** The bytes the member's key may have held (none: items are not counted). */
    budget?: BufferBudget,
  ): StreamMember<T, H> {
    const existing = key === null ? undefined : this.streams.get(key);
    if (existing && existing.joinable && existing.replayable === replay) {
      this.joinedShared++;
      return existing.join(holder, budget);
    }
    const stream = new SharedStream<T, H>(this, key, replay);
    if (key !== null) this.streams.set(key, stream);
    this.opened++;
    const member = stream.join(holder, budget);
    stream.start(source());
    return member;
  }

  /** @internal A stream that takes no more joiners. */
  forget(stream: SharedStream<T, H>): void {
    if (stream.key !== null && this.streams.get(stream.key) === stream) this.streams.delete(stream.key);
  }
}

export { BufferOverflow };
