import { context, SpanKind, trace } from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';
import { samplerFor, skipUnparentedGraphQL } from './root-sampler.js';

describe('skipUnparentedGraphQL', () => {
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const sample = (delegate: tracing.Sampler, name: string) =>
    skipUnparentedGraphQL(delegate, tracing.SamplingDecision.NOT_RECORD).shouldSample(
      context.active(),
      traceId,
      name,
      SpanKind.INTERNAL,
      {},
      [],
    ).decision;

  it('drops graphql.* spans that would start a trace, and defers everything else to the delegate', () => {
    const always = new tracing.AlwaysOnSampler();
    expect(sample(always, 'graphql.parseSchema')).toBe(tracing.SamplingDecision.NOT_RECORD);
    expect(sample(always, 'graphql.parse')).toBe(tracing.SamplingDecision.NOT_RECORD);
    expect(sample(always, 'POST /graphql')).toBe(tracing.SamplingDecision.RECORD_AND_SAMPLED);
    expect(sample(new tracing.AlwaysOffSampler(), 'POST /graphql')).toBe(tracing.SamplingDecision.NOT_RECORD);
  });

  it('under ParentBasedSampler, keeps graphql.* spans that have a sampled parent', () => {
    const sampler = new tracing.ParentBasedSampler({
      root: skipUnparentedGraphQL(new tracing.AlwaysOnSampler(), tracing.SamplingDecision.NOT_RECORD),
    });
    const parent = { traceId, spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true };
    const inRequest = trace.setSpanContext(context.active(), parent);
    expect(
      sampler.shouldSample(inRequest, traceId, 'graphql.parse', SpanKind.INTERNAL, {}, []).decision,
    ).toBe(tracing.SamplingDecision.RECORD_AND_SAMPLED);
  });

  it('samplerFor builds the sampler OTEL_TRACES_SAMPLER names', () => {
    const sampled = { traceId, spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true };
    const decide = (name: Parameters<typeof samplerFor>[1], span: string, parent?: typeof sampled) =>
      samplerFor(tracing, name, 0).shouldSample(
        parent ? trace.setSpanContext(context.active(), parent) : context.active(),
        traceId,
        span,
        SpanKind.INTERNAL,
        {},
        [],
      ).decision;
    const { RECORD_AND_SAMPLED: kept, NOT_RECORD: dropped } = tracing.SamplingDecision;
    // parent-based: a sampled parent is followed whatever the root rule (here: ratio 0, always_off)
    expect(decide('parentbased_traceidratio', 'POST /graphql', sampled)).toBe(kept);
    expect(decide('parentbased_always_off', 'attempt x', sampled)).toBe(kept);
    expect(decide('parentbased_traceidratio', 'POST /graphql')).toBe(dropped);
    expect(decide('parentbased_always_on', 'POST /graphql')).toBe(kept);
    expect(decide('parentbased_always_on', 'graphql.parseSchema')).toBe(dropped);
    // plain ones decide alone
    expect(decide('always_off', 'attempt x', sampled)).toBe(dropped);
    expect(decide('traceidratio', 'attempt x', sampled)).toBe(dropped);
    expect(decide('always_on', 'graphql.parse')).toBe(kept);
  });
});
