import type { DocumentNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { assertRootFieldScopes } from '../auth/root-field-scopes.js';
import { gatewayError } from '../gateway-errors.js';
import type { CallerIdentity } from '../subscriptions/upstream-pool.js';
import { GUARD_LIMIT_NAMES } from './document-guard.js';
import { measureOperation, type ComplexityLimits } from './query-complexity.js';
import type { TokenBucketLimiter } from './token-bucket.js';

export interface GuardMetrics {
  refused(reason: 'RATE_LIMITED' | 'QUERY_TOO_COMPLEX' | 'FORBIDDEN' | 'BAD_USER_INPUT'): void;
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
    await this.take(identity, 1);
  }

  private async take(identity: CallerIdentity, tokens: number): Promise<void> {
    let decision;
    try {
      decision = await this.limiter.take(identity.keyId, tokens);
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

  /**
   * An operation that submits `jobs` jobs spends a token per job: the request's own token was taken by
   * `admit`, this takes the rest. More jobs than the bucket can ever hold (the key's burst) is BAD_USER_INPUT
   * (waiting would not help: split the batch); not enough tokens now is RATE_LIMITED. Nothing ran yet.
   */
  async admitJobs(identity: CallerIdentity, jobs: number): Promise<void> {
    if (jobs <= 1) return;
    const { burst } = this.limiter.policy;
    if (jobs > burst) {
      this.metrics.refused?.('BAD_USER_INPUT');
      throw gatewayError(
        'BAD_USER_INPUT',
        `this operation submits ${jobs} jobs, more than this key's rate-limit burst of ${burst}: send at most ${burst} per request`,
        { max: burst, requested: jobs },
      );
    }
    await this.take(identity, jobs - 1);
  }

  /** Scope of each root field (FORBIDDEN). */
  checkScopes(identity: CallerIdentity, document: DocumentNode, operation: OperationDefinitionNode): void {
    try {
      assertRootFieldScopes(identity, document, operation);
    } catch (e) {
      this.metrics.refused?.('FORBIDDEN');
      throw e;
    }
  }

  /**
   * Scope and complexity of a parsed, validated operation. DocumentGuard measured the document already;
   * measured again here (linear, memoised) because Apollo may run a document the middleware did not see
   * (an automatic persisted query sent by hash, with other variables).
   */
  check(
    identity: CallerIdentity,
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown> | undefined | null,
  ): void {
    this.checkScopes(identity, document, operation);
    const result = measureOperation(schema, document, operation.name?.value, variables, this.limits);
    const v = result?.violation;
    if (v) {
      this.metrics.refused?.('QUERY_TOO_COMPLEX');
      const name = GUARD_LIMIT_NAMES[v.limit];
      throw gatewayError('QUERY_TOO_COMPLEX', `operation too complex: ${name} ${v.actual} > ${v.max}`, {
        limits: [{ limit: name, actual: v.actual, max: v.max }],
      });
    }
  }
}
