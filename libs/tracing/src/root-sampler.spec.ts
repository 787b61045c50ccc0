import { context, SpanKind, trace } from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';
import { skipUnparentedGraphQL } from './root-sampler.js';

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
});
