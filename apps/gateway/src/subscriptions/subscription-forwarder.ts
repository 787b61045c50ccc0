import {
  buildOperationContext,
  executeQueryPlan,
  type GraphQLDataSource,
  type ServiceMap,
} from '@apollo/gateway';
import type { FetchNode, QueryPlan } from '@apollo/query-planner';
import { GraphQLError, type DocumentNode, type ExecutionResult } from 'graphql';
import { JobEventType, TERMINAL_JOB_EVENTS } from '#libs/contracts';
import { EntityFetchBatcher } from './entity-fetch-batcher.js';
import { BufferOverflow, EventBuffer } from './event-buffer.js';
import { HIDDEN, makeResumable, RESUME_VARIABLE, type ResumePolicy } from './resumable-operation.js';
import type { SupergraphRuntime } from './supergraph-runtime.js';
import type { CallerIdentity, UpstreamRequest, UpstreamTransport } from './upstream-pool.js';

/** Name of the pseudo-service that hands one upstream event to executeQueryPlan as the primary fetch's result. */
const EVENT_SOURCE = '__subscription_event__';

export interface ForwarderMetrics {
  event(outcome: 'delivered' | 'duplicate' | 'coalesced'): void;
  overflow(): void;
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
}

interface UpstreamEvent {
  data: Record<string, unknown>;
  errors?: readonly unknown[];
  /** When the event reached the gateway, on the entity fetches' clock (0 without sharing). */
  arrival: number;
}

/**
 * Forwards one client subscription the way Apollo Router does: the plan's Primary fetch goes to the
 * subgraph that owns the root field (over a shared graphql-ws connection), and for each event the Rest of
 * the plan (entity fetches to the other subgraphs) runs with the event as its data; Apollo's own
 * executeQueryPlan does the fetching, merging and shaping to the client's selection. Events are
 * de-duplicated by (stream, seq) and the resume cursor follows the last accepted event, so an upstream
 * reconnect replays nothing twice and misses nothing.
 */
export class SubscriptionForwarder {
  readonly fetches: EntityFetchBatcher | null;

  constructor(private readonly options: SubscriptionForwarderOptions) {
    this.fetches = options.shareEntityFetches ? new EntityFetchBatcher() : null;
  }

  subscribe(request: ForwardRequest): AsyncGenerator<ExecutionResult, undefined> {
    const { runtime: getRuntime, upstream, policy, bufferCapacity, metrics, logger } = this.options;
    const runtime = getRuntime();
    const plan = runtime.planSubscription(request.document, request.query, request.operationName);
    const variables = request.variables ?? {};
    const upstreamOp = makeResumable(plan.primary.operation, variables, policy);
    const upstreamVariables: Record<string, unknown> = {};
    for (const name of plan.primary.variableUsages ?? [])
      if (name in variables) upstreamVariables[name] = variables[name];
    if (upstreamOp.resumable) upstreamVariables[RESUME_VARIABLE] = upstreamOp.initialAfter ?? null;
    const upstreamRequest: UpstreamRequest = {
      query: upstreamOp.query,
      variables: upstreamVariables,
      operationName: plan.primary.operationName,
    };

    const buffer = new EventBuffer<UpstreamEvent>(bufferCapacity);
    const lastSeq = new Map<string, number>();
    let lastDeliveredCursor: string | undefined;

    const unsubscribe = upstream.subscribe(plan.primary.serviceName, request.identity, upstreamRequest, {
      next: (result) => {
        if (!result.data) {
          // A subscription-level error (NOT_FOUND, FORBIDDEN...): forward it and end.
          buffer.fail(new UpstreamErrors(result.errors ?? []));
          return;
        }
        const data = result.data as Record<string, unknown>;
        const event = data[upstreamOp.rootKey] as Record<string, unknown> | null | undefined;
        let coalesceKey: string | null = null;
        let essential = false;
        // Identifies the event across subscribers (seq is per stream), so they share its entity fetches.
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
          if (upstreamOp.resumable && typeof event[HIDDEN.cursor] === 'string')
            upstreamVariables[RESUME_VARIABLE] = event[HIDDEN.cursor];
          const type = event[HIDDEN.type] as JobEventType | undefined;
          if (type === 'NODE_PROGRESS') coalesceKey = `${stream}\u0000${String(event[HIDDEN.node] ?? '')}`;
          essential = !!type && TERMINAL_JOB_EVENTS.has(type);
        }
        const before = buffer.coalesced;
        const arrival = this.fetches?.arrived(eventKey) ?? 0;
        buffer.push({ data, errors: result.errors, arrival }, coalesceKey, essential);
        if (buffer.coalesced > before) metrics?.event?.('coalesced');
      },
      error: (err) => buffer.fail(err),
      complete: () => buffer.end(),
    });

    const deliver = (event: UpstreamEvent) =>
      this.resolveEvent(runtime, plan.primary, plan.rest, request, event);
    metrics?.active?.(1);
    let finished = false;
    // Client complete, close or error: end the upstream subscription deterministically, exactly once.
    const finish = () => {
      if (finished) return;
      finished = true;
      unsubscribe();
      buffer.end();
      metrics?.active?.(-1);
    };
    const done = (): IteratorReturnResult<undefined> => ({ done: true, value: undefined });
    // A hand-written iterator rather than an async generator: a generator's return() waits until its
    // pending await settles (the next event, maybe never), so a client's complete would not reach upstream.
    const iterator = {
      async next() {
        if (finished) return done();
        const read = await buffer.read();
        if (finished) return done();
        if (read.kind === 'end') {
          finish();
          return done();
        }
        if (read.kind === 'error') {
          finish();
          if (read.error instanceof BufferOverflow) metrics?.overflow?.();
          return { done: false, value: { errors: toClientErrors(read.error, lastDeliveredCursor, logger) } };
        }
        const result = await deliver(read.value);
        if (finished) return done();
        const event = read.value.data[upstreamOp.rootKey] as Record<string, unknown> | undefined;
        if (typeof event?.[HIDDEN.cursor] === 'string') lastDeliveredCursor = event[HIDDEN.cursor] as string;
        metrics?.event?.('delivered');
        return { done: false, value: result };
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

  private async resolveEvent(
    runtime: SupergraphRuntime,
    primary: FetchNode,
    rest: QueryPlan['node'] | undefined,
    request: ForwardRequest,
    event: UpstreamEvent,
  ): Promise<ExecutionResult> {
    const eventFetch: FetchNode = { ...primary, serviceName: EVENT_SOURCE, requires: undefined };
    const plan: QueryPlan = {
      kind: 'QueryPlan',
      node: rest ? { kind: 'Sequence', nodes: [eventFetch, rest as never] } : eventFetch,
    };
    const eventSource: GraphQLDataSource = { process: async () => ({ data: structuredClone(event.data) }) };
    const sources = this.options.dataSources();
    const serviceMap: ServiceMap = {
      ...(this.fetches ? this.fetches.wrap(sources, event.arrival) : sources),
      [EVENT_SOURCE]: eventSource,
    };
    const operationContext = buildOperationContext({
      schema: runtime.apiGraphQLSchema,
      operationDocument: request.document,
      operationName: request.operationName ?? undefined,
    });
    const requestContext = {
      request: {
        query: request.query,
        variables: request.variables ?? {},
        operationName: request.operationName ?? undefined,
      },
      context: request.context,
      metrics: {},
      logger: undefined,
      cache: undefined,
      overallCachePolicy: undefined,
    } as unknown as Parameters<typeof executeQueryPlan>[2];
    const result = await executeQueryPlan(
      plan,
      serviceMap,
      requestContext,
      operationContext,
      runtime.supergraphGraphQLSchema,
      runtime.apiSchema,
    );
    const upstreamErrors = (event.errors ?? []).map((e) => toGraphQLError(e));
    const errors = [...upstreamErrors, ...(result.errors ?? [])];
    return errors.length
      ? { data: result.data as ExecutionResult['data'], errors }
      : { data: result.data as ExecutionResult['data'] };
  }
}

export class UpstreamErrors extends Error {
  constructor(readonly errors: readonly unknown[]) {
    super('the subgraph refused the subscription');
    this.name = 'UpstreamErrors';
  }
}

function toGraphQLError(e: unknown): GraphQLError {
  if (e instanceof GraphQLError) return e;
  const err = e as {
    message?: string;
    extensions?: Record<string, unknown>;
    path?: readonly (string | number)[];
  };
  return new GraphQLError(err?.message ?? 'subgraph error', { extensions: err?.extensions, path: err?.path });
}

function toClientErrors(
  error: unknown,
  lastCursor: string | undefined,
  logger: SubscriptionForwarderOptions['logger'],
): GraphQLError[] {
  const resume = lastCursor ? { resumeAfter: lastCursor } : {};
  if (error instanceof UpstreamErrors) {
    return error.errors.length
      ? error.errors.map(toGraphQLError)
      : [new GraphQLError(error.message, { extensions: { code: 'UNAVAILABLE' } })];
  }
  if (error instanceof BufferOverflow)
    return [
      new GraphQLError(`${error.message}; resubscribe with after: the last cursor received`, {
        extensions: { code: 'UNAVAILABLE', ...resume },
      }),
    ];
  // graphql-ws hands over the upstream close event (or a socket error) once reconnecting gave up.
  logger?.warn({ err: describe(error) }, 'upstream subscription failed');
  return [
    new GraphQLError(
      'the subscription source is unavailable; resubscribe with after: the last cursor received',
      {
        extensions: { code: 'UNAVAILABLE', ...resume },
      },
    ),
  ];
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  const e = error as { code?: number; reason?: string };
  if (e && typeof e.code === 'number') return `closed ${e.code} ${e.reason ?? ''}`.trim();
  return String(error);
}
