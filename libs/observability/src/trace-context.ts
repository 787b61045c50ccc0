import {
  context,
  createContextKey,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';

/**
 * Trace context across the hops that are not HTTP (the queue, the report stream, the runner's IPC), as a
 * W3C `traceparent` string stored with the data that crosses them. Only `@opentelemetry/api` is used: with
 * tracing off (no SDK registered) every function here is a cheap no-op and no traceparent is ever written.
 */

export { SpanKind };

const TRACER = 'switchyard';

/** The active span's context as a W3C traceparent, or undefined when there is none (or tracing is off). */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent;
}

/** The context a stored traceparent names (a remote parent), or ROOT_CONTEXT for none/malformed. */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** The trace id a traceparent carries (its second field), or undefined. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(traceparent ?? '')?.[1];
}

/** The active span's ids for a log line (OpenTelemetry's names for them in JSON logs), or {}. */
export function activeTraceFields(): { trace_id?: string; span_id?: string; trace_flags?: string } {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !isSpanContextValid(sc)) return {};
  return {
    trace_id: sc.traceId,
    span_id: sc.spanId,
    trace_flags: `0${sc.traceFlags.toString(16)}`.slice(-2),
  };
}

export interface SpanOptions {
  /** The parent: a context, a stored traceparent, or (absent) the active context. */
  parent?: Context | string;
  kind?: SpanKind;
  attributes?: Attributes;
}

/**
 * Runs `fn` inside a new span (active for everything `fn` awaits), ended when `fn` settles; a throw marks
 * the span as an error and is rethrown unchanged.
 */
export async function inSpan<T>(
  name: string,
  o: SpanOptions,
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  const parent =
    o.parent === undefined
      ? context.active()
      : typeof o.parent === 'string'
        ? contextFromTraceparent(o.parent)
        : o.parent;
  const span = trace
    .getTracer(TRACER)
    .startSpan(name, { kind: o.kind ?? SpanKind.INTERNAL, attributes: o.attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (e) {
    span.recordException(e as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error)?.message });
    throw e;
  } finally {
    span.end();
  }
}

/** The active span's trace id, or undefined. */
export function activeTraceId(): string | undefined {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && isSpanContextValid(sc) ? sc.traceId : undefined;
}

/** What names one attempt of a node on its spans (the enqueue, the worker's attempt). */
export function attemptSpanAttributes(a: {
  jobId: string;
  tenant: string;
  nodeId: string;
  attempt: number;
  task: string;
  taskVersion: string;
}): Attributes {
  return {
    'messaging.system': 'bullmq',
    'switchyard.job_id': a.jobId,
    'switchyard.tenant': a.tenant,
    'switchyard.node_id': a.nodeId,
    'switchyard.attempt': a.attempt,
    'switchyard.task': a.task,
    'switchyard.task_version': a.taskVersion,
  };
}

export type { Context as TraceContext } from '@opentelemetry/api';

/**
 * Where @opentelemetry/core keeps an incoming HTTP request's RPC metadata (`getRPCMetadata`): the http
 * instrumentation puts it in the request's context and names its server span `<method> <route>` from its `route`.
 * `createContextKey` makes a global symbol, so this is core's own key.
 */
const RPC_METADATA = createContextKey('OpenTelemetry SDK Context Key RPC_METADATA');

/**
 * Names the route of the incoming HTTP request being answered (`http.route`, and the server span `POST /graphql`),
 * as express's instrumentation does for the routes it matched, for a request answered without express. A no-op
 * with tracing off (no context carries RPC metadata).
 */
export function setHttpRoute(route: string): void {
  const meta = context.active().getValue(RPC_METADATA) as { type?: string; route?: string } | undefined;
  if (meta?.type === 'http') meta.route = route;
}

/** The active context, to hand to work that runs outside it (an IPC message handler). */
export const activeContext = (): Context => context.active();
