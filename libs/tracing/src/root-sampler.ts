import type * as SdkNode from '@opentelemetry/sdk-node';

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
