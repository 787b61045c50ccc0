import {
  buildOperationContext,
  executeQueryPlan,
  type GraphQLDataSource,
  type ServiceMap,
} from '@apollo/gateway';
import type { FetchNode, QueryPlan } from '@apollo/query-planner';
import { GraphQLError, type DocumentNode, type ExecutionResult } from 'graphql';
import { DeliveryChargeUnavailable, DeliveryRateLimited, deliveryEndedAnswer } from '#libs/auth';
import { BufferBudgetExceeded } from './buffered-bytes.js';
import { BufferOverflow } from './event-buffer.js';
import type { SupergraphRuntime } from './supergraph-runtime.js';

/** Name of the pseudo-service that hands one upstream event to executeQueryPlan as the primary fetch's result. */
const EVENT_SOURCE = '__subscription_event__';

export interface ResolvableEvent {
  data: Record<string, unknown>;
  errors?: readonly unknown[];
}

export interface EventRequest {
  document: DocumentNode;
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  context: Record<string, unknown>;
}

/**
 * Runs the Rest of a subscription plan for one upstream event: the event is fed to Apollo's own
 * executeQueryPlan as the primary fetch's result, which fetches the other subgraphs' fields, merges them
 * and shapes the result to the client's selection (dropping the forwarder's hidden fields).
 */
export async function resolveEvent(
  runtime: SupergraphRuntime,
  primary: FetchNode,
  rest: QueryPlan['node'] | undefined,
  request: EventRequest,
  event: ResolvableEvent,
  sources: ServiceMap,
): Promise<ExecutionResult> {
  const eventFetch: FetchNode = { ...primary, serviceName: EVENT_SOURCE, requires: undefined };
  const plan: QueryPlan = {
    kind: 'QueryPlan',
    node: rest ? { kind: 'Sequence', nodes: [eventFetch, rest as never] } : eventFetch,
  };
  // No copy: each upstream message is parsed into objects of its own (graphql-ws client, one per subscription)
  // and resolved exactly once (one stream per upstream subscription), so nothing else reads what the merge changes.
  const eventSource: GraphQLDataSource = { process: async () => ({ data: event.data }) };
  const serviceMap: ServiceMap = { ...sources, [EVENT_SOURCE]: eventSource };
  const operationContext = operationContextOf(runtime, request.document, request.operationName);
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

type OperationContext = ReturnType<typeof buildOperationContext>;
/**
 * The operation and its fragments, per document and operation name for one API schema: worked out once per
 * subscription document instead of once per event (executeQueryPlan only reads it).
 */
const operationContexts = new WeakMap<DocumentNode, Map<string, OperationContext>>();
function operationContextOf(
  runtime: SupergraphRuntime,
  document: DocumentNode,
  operationName: string | null | undefined,
): OperationContext {
  let byName = operationContexts.get(document);
  if (!byName) operationContexts.set(document, (byName = new Map()));
  const key = operationName ?? '';
  let context = byName.get(key);
  if (!context || context.schema !== runtime.apiGraphQLSchema) {
    context = buildOperationContext({
      schema: runtime.apiGraphQLSchema,
      operationDocument: document,
      operationName: operationName ?? undefined,
    });
    byName.set(key, context);
  }
  return context;
}

export class UpstreamErrors extends Error {
  constructor(readonly errors: readonly unknown[]) {
    super('the subgraph refused the subscription');
    this.name = 'UpstreamErrors';
  }
}

export function toGraphQLError(e: unknown): GraphQLError {
  if (e instanceof GraphQLError) return e;
  const err = e as {
    message?: string;
    extensions?: Record<string, unknown>;
    path?: readonly (string | number)[];
  };
  return new GraphQLError(err?.message ?? 'subgraph error', { extensions: err?.extensions, path: err?.path });
}

/** What a subscriber is told when its stream fails; `lastCursor` is where it can resume. */
export function toClientErrors(
  error: unknown,
  lastCursor: string | undefined,
  logger?: { warn(obj: object, msg: string): void },
): GraphQLError[] {
  const resume = lastCursor ? { resumeAfter: lastCursor } : {};
  if (error instanceof UpstreamErrors) {
    return error.errors.length
      ? error.errors.map(toGraphQLError)
      : [new GraphQLError(error.message, { extensions: { code: 'UNAVAILABLE' } })];
  }
  if (error instanceof DeliveryRateLimited || error instanceof DeliveryChargeUnavailable) {
    const { code, message, extensions } = deliveryEndedAnswer(error, lastCursor);
    return [new GraphQLError(message, { extensions: { code, ...extensions } })];
  }
  if (error instanceof BufferBudgetExceeded)
    return [
      new GraphQLError(
        `${error.message}; read faster, then resubscribe with after: the last cursor received`,
        {
          extensions: { code: 'UNAVAILABLE', limit: error.limit, max: error.max, ...resume },
        },
      ),
    ];
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
