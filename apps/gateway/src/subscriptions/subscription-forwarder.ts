import type { ServiceMap } from '@apollo/gateway';
import type { DocumentNode, ExecutionResult, FormattedExecutionResult } from 'graphql';
import { DeliveryCharge, DeliveryChargeUnavailable, type DeliveryChargeOptions } from '#libs/auth';
import { JobEventType, TERMINAL_JOB_EVENTS } from '#libs/contracts';
import {
  BufferBudgetExceeded,
  type BufferBudget,
  type BufferedBytesLimit,
  type KeyBufferBudgets,
} from './buffered-bytes.js';
import { EntityFetchBatcher } from './entity-fetch-batcher.js';
import type { DirectSink } from './direct-delivery.js';
import { BufferOverflow } from './event-buffer.js';
import { resolveEvent, toClientErrors, UpstreamErrors } from './event-resolution.js';
import {
  HIDDEN,
  makeResumable,
  RESUME_VARIABLE,
  supportedPolicy,
  type ResumePolicy,
  type UpstreamOperation,
} from './resumable-operation.js';
import { ResolvedEvent } from './resolved-event.js';
import { ResolvingBytes } from './resolving-bytes.js';
import { StreamSharing, type SharedStreamSource } from './shared-streams.js';
import type { SubscriptionPlan, SupergraphRuntime } from './supergraph-runtime.js';
import {
  identityKey,
  type CallerIdentity,
  type UpstreamRequest,
  type UpstreamTransport,
} from './upstream-pool.js';

export { UpstreamErrors } from './event-resolution.js';

export interface ForwarderMetrics {
  event(outcome: 'delivered' | 'duplicate' | 'coalesced'): void;
  overflow(): void;
  /** A subscription ended because the gateway held more bytes for it than BUFFERED_BYTES_PER_KEY or _TOTAL allow. */
  bufferedBytesRefused(limit: BufferedBytesLimit): void;
  active(delta: number): void;
}

export interface SubscriptionForwarderOptions {
  runtime: () => SupergraphRuntime;
  upstream: UpstreamTransport;
  /** Data sources of the subgraphs, for the entity fetches of each event (the same kind the gateway uses). */
  dataSources: () => ServiceMap;
  policy: ResumePolicy;
  /** Events one subscriber may have queued (after progress coalescing) before its subscription ends. */
  bufferCapacity: number;
  /**
   * Subscribers of one job share the entity fetches of one event: one subgraph request, started after the
   * event reached the gateway (see EntityFetchBatcher). Off: one request per subscriber and event.
   */
  shareEntityFetches?: boolean;
  /**
   * Identical subscriptions (same tenant and scopes, document, operation name and variables) share one
   * upstream subscription and one resolution per event (StreamSharing). Default: `shareEntityFetches`.
   */
  shareSubscriptions?: boolean;
  /** Events a shared replayable stream keeps for late joiners (default: bufferCapacity). */
  shareHistoryLimit?: number;
  /**
   * Bytes of events the gateway may hold for each key and in all: queued for its subscribers, kept as its shared
   * streams' history, written to its connections and not yet taken by their sockets (BUFFERED_BYTES_PER_KEY,
   * BUFFERED_BYTES_TOTAL, buffered-bytes.ts). Absent: only `bufferCapacity` and the socket high-water bound them.
   */
  bufferedBytes?: KeyBufferBudgets;
  /**
   * Writes out what the direct sinks were handed so far (SocketWriteBatching). `burstEnded` true: a shared
   * stream has handed every event that reached the gateway (and its end) to its subscribers — a burst leaves
   * in one write per client, and does not wait for the rest of the turn (when a job ends, the end of every
   * subscription to it runs in that same turn). False: one event of a longer burst was handed out; the
   * batching writes what has waited long enough.
   */
  flushDirectWrites?: (burstEnded: boolean) => void;
  /**
   * Charges each client subscription's delivered events to its key's bucket (DeliveryCharge): a request's
   * `eventCost` per event, a token per `costPerToken`. Absent: events cost nothing.
   */
  charge?: DeliveryChargeOptions;
  metrics?: Partial<ForwarderMetrics>;
  logger?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export interface ForwardRequest {
  document: DocumentNode;
  /** The document as text (plan cache key). */
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  identity: CallerIdentity;
  /** Passed to the subgraph data sources (they sign the identity from it). */
  context: Record<string, unknown>;
  /**
   * Where events without errors are written directly (graphql-ws `next` frames, the payload serialised once per
   * shared event); the iterator then yields only errors and the end. Without it every event is yielded.
   */
  direct?: DirectSink;
  /** What one delivered event costs (the operation's measured cost), charged with `options.charge`. */
  eventCost?: number;
}

/**
 * Forwards client subscriptions the way Apollo Router does: the plan's Primary fetch goes to the subgraph
 * that owns the root field (over a shared graphql-ws connection), and for each event the Rest of the plan
 * (entity fetches to the other subgraphs) runs with the event as its data; Apollo's own executeQueryPlan
 * does the fetching, merging and shaping to the client's selection. Events are de-duplicated by
 * (stream, seq) and the resume cursor follows the last accepted event, so an upstream reconnect replays
 * nothing twice and misses nothing.
 *
 * Identical subscriptions share that work (StreamSharing): one upstream subscription and one resolution
 * per event for all of them, each subscriber with its own bounded buffer, teardown, and errors. A late
 * joiner of a `jobEvents` stream is first given everything the stream delivered so far. The shared upstream
 * (and each event's entity fetches) always runs under the identity of a subscriber still there: when the one
 * it runs under leaves (completes, disconnects, or its key is revoked and its socket closed), it moves to the
 * oldest remaining subscriber's identity and resumes right after the last event that arrived.
 */
export class SubscriptionForwarder {
  readonly fetches: EntityFetchBatcher | null;
  readonly sharing: StreamSharing<ResolvedEvent, ForwardRequest>;
  private readonly share: boolean;
  /** Plans of different supergraphs never share a stream (a hot reload may change them). */
  private readonly runtimeIds = new WeakMap<SupergraphRuntime, number>();
  /** Each plan's upstream operation as made without the client's variables (what does not depend on them). */
  private readonly withoutVariables = new WeakMap<object, UpstreamOperation>();
  private readonly policies = new WeakMap<SupergraphRuntime, ResumePolicy>();

  constructor(private readonly options: SubscriptionForwarderOptions) {
    this.fetches = options.shareEntityFetches ? new EntityFetchBatcher() : null;
    this.share = options.shareSubscriptions ?? !!options.shareEntityFetches;
    this.sharing = new StreamSharing<ResolvedEvent, ForwardRequest>({
      bufferCapacity: options.bufferCapacity,
      historyLimit: options.shareHistoryLimit ?? options.bufferCapacity,
      onCoalesced: (n) => {
        for (let i = 0; i < n; i++) options.metrics?.event?.('coalesced');
      },
    });
  }

  /** The budget a key's connections hold the bytes of their unwritten frames in (none: not counted). */
  budgetFor(keyId: string): BufferBudget | undefined {
    return this.options.bufferedBytes?.for(keyId);
  }

  subscribe(request: ForwardRequest): AsyncGenerator<ExecutionResult, undefined> {
    const { runtime: getRuntime, metrics, logger } = this.options;
    const runtime = getRuntime();
    const plan = runtime.planSubscription(request.document, request.query, request.operationName);
    const member = this.sharing.join(
      this.shareKey(runtime, plan, request),
      this.isReplayable(runtime, plan, request),
      request,
      () => this.openUpstream(runtime, plan, request),
      this.budgetFor(request.identity.keyId),
    );

    let lastDeliveredCursor: string | undefined;
    metrics?.active?.(1);
    let finished = false;
    /** Why the charge for delivered events ended this subscription (told the client next, then done). */
    let cut: unknown = null;
    const charge =
      this.options.charge && request.eventCost
        ? new DeliveryCharge(this.options.charge, request.identity.keyId, request.eventCost, (error) => {
            cut = error;
            if (error instanceof DeliveryChargeUnavailable)
              logger?.warn(
                { keyId: request.identity.keyId },
                'subscription ended: the rate limiter stayed unreachable while its events were owed',
              );
            // out of the shared stream now (no more events; the upstream share goes); the reader, woken by
            // the leave, tells the client and ends
            member.leave();
          })
        : null;
    // Charged as each event reaches this subscriber (delivered or queued for it), not once its client read it: the
    // work of resolving it is done then, and a client that stops reading would otherwise have events resolved
    // for it (up to SUBSCRIBER_BUFFER per subscription, each a fetch of its selection) for free.
    if (charge) member.onReceived = () => charge.delivered();
    // Client complete, close or error: leave the shared stream deterministically, exactly once (the last
    // member to leave ends the upstream subscription).
    const finish = () => {
      if (finished) return;
      finished = true;
      charge?.close();
      member.leave();
      metrics?.active?.(-1);
    };
    const ended = (): IteratorYieldResult<ExecutionResult> => {
      finish();
      return { done: false, value: { errors: toClientErrors(cut, lastDeliveredCursor, logger) } };
    };
    const done = (): IteratorReturnResult<undefined> => ({ done: true, value: undefined });
    /** The stream failed for this subscriber: told the client next, then done. */
    const failed = (error: unknown): IteratorYieldResult<ExecutionResult> => {
      finish();
      if (error instanceof BufferOverflow) metrics?.overflow?.();
      if (error instanceof BufferBudgetExceeded) {
        metrics?.bufferedBytesRefused?.(error.limit);
        logger?.warn(
          {
            keyId: request.identity.keyId,
            tenant: request.identity.tenant,
            limit: error.limit,
            max: error.max,
          },
          'subscription ended: the gateway holds too many bytes of events its clients have not read',
        );
      }
      return { done: false, value: { errors: toClientErrors(error, lastDeliveredCursor, logger) } };
    };
    // A hand-written iterator rather than an async generator: a generator's return() waits until its
    // pending await settles (the next event, maybe never), so a client's complete would not reach upstream.
    const direct = request.direct;
    if (direct)
      member.deliverDirectly((item) => {
        if (finished || cut || item.value.hasErrors || !direct.ready()) return false;
        // refused by the bytes bound: queued instead, where the same bound ends this subscription
        if (direct.next(item.value.json!)) return false;
        if (item.cursor !== undefined) lastDeliveredCursor = item.cursor;
        metrics?.event?.('delivered');
        return true;
      });
    const iterator = {
      async next() {
        // graphql-ws has sent what this iterator yielded last: later events may go out directly again
        member.holding = false;
        for (;;) {
          if (finished) return done();
          if (cut) return ended();
          const read = member.poll() ?? (await member.read());
          if (finished) return done();
          if (cut) return ended();
          if (read.kind === 'end') {
            finish();
            return done();
          }
          if (read.kind === 'error') return failed(read.error);
          const event = read.item.value;
          const delivered = () => {
            if (read.item.cursor !== undefined) lastDeliveredCursor = read.item.cursor;
            metrics?.event?.('delivered');
          };
          if (!direct || event.hasErrors) {
            // until graphql-ws has sent it (and asks for the next), later events queue behind it
            member.holding = true;
            delivered();
            return { done: false, value: event.result() };
          }
          // A client that does not keep up: stop writing, and this member's buffer fills (then overflows)
          // exactly as when graphql-ws waited for each send.
          if (!direct.ready()) {
            member.holding = true;
            try {
              await direct.whenReady();
            } finally {
              member.holding = false;
            }
          }
          if (finished) return done();
          if (cut) return ended();
          const refused = direct.next(event.json!);
          if (refused) {
            // the subscription ends here anyway: the terminal event goes out through graphql-ws, as errors do
            if (!read.item.essential) return failed(refused);
            member.holding = true;
            delivered();
            return { done: false, value: event.result() };
          }
          delivered();
        }
      },
      async return() {
        finish();
        return done();
      },
      async throw(error: unknown) {
        finish();
        throw error;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    } as unknown as AsyncGenerator<ExecutionResult, undefined>;
    return iterator;
  }

  /** Same tenant and scopes (effective permissions), supergraph, document, operation and variables. */
  private shareKey(
    runtime: SupergraphRuntime,
    plan: SubscriptionPlan,
    request: ForwardRequest,
  ): string | null {
    if (!this.share) return null;
    let runtimeId = this.runtimeIds.get(runtime);
    if (runtimeId === undefined) this.runtimeIds.set(runtime, (runtimeId = nextRuntimeId++));
    return JSON.stringify([
      runtimeId,
      plan.primary.serviceName,
      request.identity.tenant,
      [...request.identity.scopes].sort(),
      request.operationName ?? null,
      request.query,
      canonical(request.variables ?? {}),
    ]);
  }

  /**
   * Whether the upstream starts at a position (jobEvents; jobFeed given `after`), not "now", so a late joiner
   * needs what came before.
   */
  private isReplayable(runtime: SupergraphRuntime, plan: SubscriptionPlan, request: ForwardRequest): boolean {
    let op = this.withoutVariables.get(plan.primary);
    if (op === undefined) {
      op = makeResumable(plan.primary.operation, {}, this.policyOf(runtime));
      this.withoutVariables.set(plan.primary, op);
    }
    return op.replayable || (op.afterVariable !== undefined && request.variables?.[op.afterVariable] != null);
  }

  /** The resume policy as far as this supergraph supports it (see supportedPolicy). */
  private policyOf(runtime: SupergraphRuntime): ResumePolicy {
    let policy = this.policies.get(runtime);
    if (policy === undefined) {
      policy = supportedPolicy(this.options.policy, runtime.supergraphGraphQLSchema);
      this.policies.set(runtime, policy);
    }
    return policy;
  }

  /**
   * The upstream of one shared stream: subscribe, de-duplicate, resolve each event once, in order. Re-homed
   * to another subscriber's request, it subscribes again under that identity with the resume cursor of the
   * last event that arrived (as a reconnect does) and ends the previous subscription; the (stream, seq)
   * de-duplication drops whatever both of them deliver (jobFeed resumes from its events' feedCursor, and before
   * its first event from the head it was started at: see FieldResumePolicy.headQuery). A stream with no resume
   * argument (a supergraph composed from older subgraphs) misses, as on a reconnect, what the subgraph publishes
   * while the new subscription is being set up; so does a live jobFeed before its first event with a supergraph
   * that has `jobFeed(after:)` but no `jobFeedHead`.
   */
  private openUpstream(
    runtime: SupergraphRuntime,
    plan: SubscriptionPlan,
    first: ForwardRequest,
  ): SharedStreamSource<ResolvedEvent, ForwardRequest> {
    return (sink) => {
      /** On whose behalf the upstream subscription and the entity fetches run. */
      let request = first;
      const { upstream, metrics } = this.options;
      const variables = request.variables ?? {};
      const upstreamOp = makeResumable(plan.primary.operation, variables, this.policyOf(runtime));
      const upstreamVariables: Record<string, unknown> = {};
      for (const name of plan.primary.variableUsages ?? [])
        if (name in variables) upstreamVariables[name] = variables[name];
      if (upstreamOp.resumable) upstreamVariables[RESUME_VARIABLE] = upstreamOp.initialAfter ?? null;
      const upstreamRequest: UpstreamRequest = {
        query: upstreamOp.query,
        variables: upstreamVariables,
        operationName: plan.primary.operationName,
      };
      const lastSeq = new Map<string, number>();
      // Events resolve concurrently (each fetch starts when its event arrives) but reach the members in
      // arrival order, and the end or an error only after the events before it.
      let tail: Promise<void> = Promise.resolve();
      let queued = 0;
      const { flushDirectWrites } = this.options;
      const inOrder = (step: () => void | Promise<void>) => {
        queued++;
        tail = tail.then(async () => {
          try {
            // a step that is done at once (the end) is not awaited: the flush below then comes before the
            // subscribers' own ends, which it just set going
            const pending = step();
            if (pending) await pending;
          } catch (error) {
            sink.error(error);
          } finally {
            flushDirectWrites?.(--queued === 0);
          }
        });
      };

      const resolvingBytes = new ResolvingBytes();
      /** The budget of the key the stream runs for (follows `request` when re-homed). */
      let budget = this.budgetFor(request.identity.keyId);
      /** Set once the stream's bytes were refused: it is ending, later arrivals are dropped unresolved. */
      let refusedBytes = false;
      const onResult = (result: FormattedExecutionResult) => {
        if (refusedBytes) return;
        if (!result.data) {
          // A subscription-level error (NOT_FOUND, FORBIDDEN...): every member gets it, then it ends.
          inOrder(() => sink.error(new UpstreamErrors(result.errors ?? [])));
          return;
        }
        const data = result.data as Record<string, unknown>;
        const event = data[upstreamOp.rootKey] as Record<string, unknown> | null | undefined;
        let coalesceKey: string | null = null;
        let essential = false;
        let cursor: string | undefined;
        // Identifies the event across streams (seq is per job), so they share its entity fetches.
        let eventKey: string | undefined;
        if (upstreamOp.tracked && event) {
          const stream = String(event[HIDDEN.stream] ?? '');
          const seq = event[HIDDEN.seq];
          if (typeof seq === 'number') {
            if (seq <= (lastSeq.get(stream) ?? 0)) {
              metrics?.event?.('duplicate');
              return;
            }
            lastSeq.set(stream, seq);
            if (stream)
              eventKey = JSON.stringify([plan.primary.serviceName, request.identity.tenant, stream, seq]);
          }
          if (typeof event[HIDDEN.cursor] === 'string') {
            cursor = event[HIDDEN.cursor] as string;
            if (upstreamOp.resumable) upstreamVariables[RESUME_VARIABLE] = cursor;
          }
          const type = event[HIDDEN.type] as JobEventType | undefined;
          if (type === 'NODE_PROGRESS') coalesceKey = `${stream}\u0000${String(event[HIDDEN.node] ?? '')}`;
          essential = !!type && TERMINAL_JOB_EVENTS.has(type);
        }
        // held against the key the stream runs for until handed over (resolving-bytes.ts); past its bounds the
        // stream ends after the events before this one, and what arrives meanwhile is not resolved
        const hold = budget ? resolvingBytes.hold(budget, essential) : null;
        if (hold instanceof BufferBudgetExceeded) {
          refusedBytes = true;
          inOrder(() => sink.error(hold));
          return;
        }
        const arrival = this.fetches?.arrived(eventKey) ?? 0;
        const sources = this.options.dataSources();
        const resolving = resolveEvent(
          runtime,
          plan.primary,
          plan.rest,
          request,
          { data, errors: result.errors },
          this.fetches ? this.fetches.wrap(sources, arrival) : sources,
        ).then((result) => {
          // serialised once per event whatever the members (kept as its JSON: resolved-event.ts)
          const value = ResolvedEvent.of(result);
          const refused = hold?.resolved(value.bytes) ?? null;
          if (refused) refusedBytes = true;
          return { value, refused };
        });
        resolving.catch(() => undefined); // handled in order below
        inOrder(async () => {
          try {
            const { value, refused } = await resolving;
            if (refused) sink.error(refused);
            else sink.next({ value, coalesceKey, essential, cursor, bytes: value.bytes });
          } finally {
            hold?.release();
          }
        });
      };
      /** One upstream subscription; its end counts only while it is the stream's current one. */
      const subscribeAs = (identity: CallerIdentity): (() => void) => {
        let current = true;
        const unsubscribe = upstream.subscribe(plan.primary.serviceName, identity, upstreamRequest, {
          next: onResult,
          error: (err: unknown) => {
            if (current) inOrder(() => sink.error(err));
          },
          complete: () => {
            if (current) inOrder(() => sink.complete());
          },
        });
        return () => {
          current = false;
          unsubscribe();
        };
      };
      let unsubscribe = () => {};
      let stopped = false;
      // A live stream with a head query (jobFeed without `after`) reads where it stands first and starts right
      // after that, so from its first moment a reconnect or a re-home resumes from a position, never from a later
      // "now" that would skip what came in between (a reconnect before its first event lost exactly that).
      let readingHead = upstreamOp.head !== undefined;
      if (upstreamOp.head) {
        const head = upstreamOp.head;
        const fail = (error: unknown) => {
          if (!readingHead || stopped) return;
          readingHead = false;
          inOrder(() => sink.error(error));
        };
        const cancelHead = upstream.subscribe(
          plan.primary.serviceName,
          request.identity,
          { query: head.query, variables: {} },
          {
            next: (result) => {
              const cursor = (result.data as Record<string, unknown> | null | undefined)?.[head.field];
              if (typeof cursor !== 'string') return fail(new UpstreamErrors(result.errors ?? []));
              if (!readingHead || stopped) return;
              readingHead = false;
              upstreamVariables[RESUME_VARIABLE] = cursor;
              // under whoever the stream runs for by now (it may have been re-homed meanwhile)
              unsubscribe = subscribeAs(request.identity);
            },
            error: fail,
            complete: () => fail(new UpstreamErrors([])),
          },
        );
        if (readingHead) unsubscribe = cancelHead;
      } else unsubscribe = subscribeAs(request.identity);
      return {
        stop: () => {
          stopped = true;
          unsubscribe();
        },
        rehome: (next) => {
          const previous = request;
          request = next;
          budget = this.budgetFor(next.identity.keyId);
          // the same key and scopes: the subgraph sees no difference, the subscription stays
          if (identityKey(previous.identity) === identityKey(next.identity)) return;
          // still reading the head: the stream opens under `request` once it is read
          if (readingHead) return;
          // the new one resumes from the resume variable (the last event's cursor, or the head): whatever both
          // deliver is dropped by the (stream, seq) de-duplication, and nothing falls between them
          const unsubscribePrevious = unsubscribe;
          unsubscribe = subscribeAs(next.identity);
          unsubscribePrevious();
        },
      };
    };
  }
}

let nextRuntimeId = 1;

/** JSON with object keys sorted, so equal variables give equal keys. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
