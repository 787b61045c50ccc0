import type { DocumentNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { assertRootFieldScopes } from '../auth/root-field-scopes.js';
import { gatewayError } from '../gateway-errors.js';
import type { CallerIdentity } from '../subscriptions/upstream-pool.js';
import { complexityViolations, measureOperation, type ComplexityLimits } from './query-complexity.js';
import type { TokenBucketLimiter } from './token-bucket.js';

const LIMIT_NAMES: Record<string, string> = {
  maxDepth: 'depth',
  maxAliases: 'aliases',
  maxRootFields: 'root fields',
  maxCost: 'cost',
};

export interface GuardMetrics {
  refused(reason: 'RATE_LIMITED' | 'QUERY_TOO_COMPLEX' | 'FORBIDDEN'): void;
}

/**
 * The checks every operation passes, whichever transport brought it (HTTP POST or a graphql-ws subscribe):
 * the per-key rate limit, then scope of each root field, then depth/aliases/root fields/cost.
 */
export class OperationGuard {
  constructor(
    private readonly limiter: TokenBucketLimiter,
    private readonly limits: ComplexityLimits,
    private readonly metrics: Partial<GuardMetrics> = {},
  ) {}

  /** Takes one token of the key's bucket; throws RATE_LIMITED with retryAfterSeconds, or UNAVAILABLE. */
  async admit(identity: CallerIdentity): Promise<void> {
    let decision;
    try {
      decision = await this.limiter.take(identity.keyId);
    } catch {
      // Fail closed: without Redis the key could not be verified either.
      throw gatewayError('UNAVAILABLE', 'rate limiter unavailable; retry shortly');
    }
    if (!decision.allowed) {
      this.metrics.refused?.('RATE_LIMITED');
      throw gatewayError('RATE_LIMITED', `rate limit exceeded; retry in ${decision.retryAfterSeconds} s`, {
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }
  }

  /** Scope and complexity of a parsed, validated operation. */
  check(
    identity: CallerIdentity,
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown> | undefined | null,
  ): void {
    try {
      assertRootFieldScopes(identity, document, operation);
    } catch (e) {
      this.metrics.refused?.('FORBIDDEN');
      throw e;
    }
    const report = measureOperation(
      schema,
      document,
      operation.name?.value,
      variables,
      this.limits.defaultListSize,
    );
    if (!report) return;
    const violations = complexityViolations(report, this.limits);
    if (violations.length) {
      this.metrics.refused?.('QUERY_TOO_COMPLEX');
      const what = violations.map((v) => `${LIMIT_NAMES[v.limit]} ${v.actual} > ${v.max}`).join(', ');
      throw gatewayError('QUERY_TOO_COMPLEX', `operation too complex: ${what}`, {
        limits: violations.map((v) => ({ limit: LIMIT_NAMES[v.limit], actual: v.actual, max: v.max })),
      });
    }
  }
}
