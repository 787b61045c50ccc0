import type * as SdkNode from '@opentelemetry/sdk-node';

import type { TracesSampler } from './tracing-settings.js';

type Sampler = SdkNode.tracing.Sampler;

/**
 * Root sampler: drops spans that would start a trace of their own under the name `graphql.*`. Building
 * schemas and parsing the supergraph at boot (and on every reload) make dozens of such spans with no request
 * behind them; the same operations inside a request have a parent and are kept. Everything else goes to
 * `delegate` (the ratio sampler).
 */
export function skipUnparentedGraphQL(
  delegate: Sampler,
  notRecord: SdkNode.tracing.SamplingDecision,
): Sampler {
  return {
    shouldSample: (context, traceId, spanName, spanKind, attributes, links) =>
      spanName.startsWith('graphql.')
        ? { decision: notRecord }
        : delegate.shouldSample(context, traceId, spanName, spanKind, attributes, links),
    toString: () => `SkipUnparentedGraphQL{${delegate.toString()}}`,
  };
}

/**
 * The sampler OTEL_TRACES_SAMPLER names. With a parentbased_* one (the default) a request's trace is kept or
 * dropped as a whole, and the named rule decides only for roots, where boot-time `graphql.*` spans are
 * skipped. The plain ones decide for every span on its own, as the specification says.
 */
export function samplerFor(sdk: typeof SdkNode.tracing, name: TracesSampler, ratio: number): Sampler {
  const rule = (kind: string): Sampler =>
    kind === 'always_on'
      ? new sdk.AlwaysOnSampler()
      : kind === 'always_off'
        ? new sdk.AlwaysOffSampler()
        : new sdk.TraceIdRatioBasedSampler(ratio);
  if (!name.startsWith('parentbased_')) return rule(name);
  return new sdk.ParentBasedSampler({
    root: skipUnparentedGraphQL(rule(name.slice('parentbased_'.length)), sdk.SamplingDecision.NOT_RECORD),
  });
}
