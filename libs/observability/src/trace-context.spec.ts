import { api, core, node, tracing } from '@opentelemetry/sdk-node';
import {
  activeTraceFields,
  activeTraceId,
  contextFromTraceparent,
  currentTraceparent,
  inSpan,
  setHttpRoute,
  SpanKind,
  traceIdOf,
} from './trace-context.js';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT = `00-${TRACE_ID}-b7ad6b7169203331-01`;

describe('trace context without an SDK (tracing off)', () => {
  it('names no route', () => {
    expect(() => setHttpRoute('/graphql')).not.toThrow();
  });
  it('writes no traceparent and logs no ids, and inSpan still runs its work', async () => {
    expect(await inSpan('x', { parent: PARENT }, () => currentTraceparent())).toBeUndefined();
    expect(await inSpan('x', {}, () => activeTraceFields())).toEqual({});
    await expect(inSpan('x', {}, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });
});

describe('trace context with an SDK', () => {
  const exporter = new tracing.InMemorySpanExporter();
  beforeAll(() => {
    // registers the global provider, the W3C propagator and the AsyncLocalStorage context manager
    new node.NodeTracerProvider({ spanProcessors: [new tracing.SimpleSpanProcessor(exporter)] }).register();
  });
  beforeEach(() => exporter.reset());

  it('starts a span under a stored traceparent, active for the awaited work, and propagates it', async () => {
    const seen = await inSpan(
      'attempt t',
      { parent: PARENT, kind: SpanKind.CONSUMER, attributes: { 'switchyard.node_id': 'n' } },
      async () => {
        await new Promise((r) => setTimeout(r, 5));
        return { traceparent: currentTraceparent(), fields: activeTraceFields(), traceId: activeTraceId() };
      },
    );
    const [span] = exporter.getFinishedSpans();
    expect(span).toMatchObject({ name: 'attempt t', kind: SpanKind.CONSUMER });
    expect(span!.spanContext().traceId).toBe(TRACE_ID);
    expect(span!.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(span!.attributes['switchyard.node_id']).toBe('n');
    expect(seen.traceparent).toBe(`00-${TRACE_ID}-${span!.spanContext().spanId}-01`);
    expect(seen.fields).toEqual({
      trace_id: TRACE_ID,
      span_id: span!.spanContext().spanId,
      trace_flags: '01',
    });
    expect(seen.traceId).toBe(TRACE_ID);
    expect(traceIdOf(seen.traceparent)).toBe(TRACE_ID);
    expect(currentTraceparent()).toBeUndefined(); // ended and no longer active
  });

  it('takes an explicit context as parent, and marks a span whose work throws as an error', async () => {
    const parent = contextFromTraceparent(PARENT);
    await expect(
      inSpan('storage fetch', { parent }, () => Promise.reject(new Error('S3 down'))),
    ).rejects.toThrow('S3 down');
    const [span] = exporter.getFinishedSpans();
    expect(span!.spanContext().traceId).toBe(TRACE_ID);
    expect(span!.status).toMatchObject({ code: 2, message: 'S3 down' });
    expect(span!.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('ignores a malformed traceparent: the span starts a trace of its own', async () => {
    expect(traceIdOf('nonsense')).toBeUndefined();
    await inSpan('x', { parent: 'nonsense' }, () => undefined);
    const [span] = exporter.getFinishedSpans();
    expect(span!.spanContext().traceId).not.toBe(TRACE_ID);
    expect(span!.parentSpanContext).toBeUndefined();
  });

  it("names the route of the incoming request in the http instrumentation's RPC metadata, as express's does", () => {
    const span = api.trace.getTracer('t').startSpan('POST');
    const meta: core.RPCMetadata = { type: core.RPCType.HTTP, span };
    api.context.with(core.setRPCMetadata(api.context.active(), meta), () => setHttpRoute('/graphql'));
    span.end();
    expect(meta.route).toBe('/graphql');
  });
});
