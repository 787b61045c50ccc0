import type { DocumentNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { assertScopesFor, rootFieldNames } from '../auth/root-field-scopes.js';
import { gatewayError } from '../gateway-errors.js';
import type { CallerIdentity } from '../subscriptions/upstream-pool.js';
import type { MeasuredOperation } from './document-cache.js';
import { overBurstMessage, type ChargeDecision, type RateLimiter } from '#libs/auth';
import {
  measureOperation,
  tooComplex,
  type ComplexityLimits,
  type ComplexityResult,
  type CostDirectives,
} from '#libs/graphql-cost';

export interface GuardMetrics {
  /** `subscriptionEvents`: a subscription ended RATE_LIMITED for what its delivered events cost. */
  refused(
    reason: 'RATE_LIMITED' | 'QUERY_TOO_COMPLEX' | 'FORBIDDEN' | 'BAD_USER_INPUT' | 'subscriptionEvents',
  ): void;
}

/**
 * The checks every operation passes, whichever transport brought it (HTTP POST or a graphql-ws subscribe):
 * the per-key rate limit, then scope of each root field, then depth/aliases/root fields/cost.
 */
/** What one operation of a parsed document needs checked, worked out once. */
interface KnownOperation {
  rootFields: string[];
  /** Complexity for a schema and its cost directives (absent when it depends on variables). */
  measured?: MeasuredOperation;
}

export class OperationGuard {
  /**
   * Per parsed document: Apollo's documentStore and DocumentGuard's cache hand out the same DocumentNode for
   * the same text, so root fields and complexity are worked out once per distinct document.
   */
  private readonly known = new WeakMap<DocumentNode, Map<OperationDefinitionNode, KnownOperation>>();

  constructor(
    private readonly limiter: RateLimiter,
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
   * Takes `tokens` for what a subscription delivered (DeliveryCharge): a refusal is answered, not thrown (the
   * subscription ends with RATE_LIMITED after what it was sent) and counted as `subscriptionEvents`; a limiter that
   * cannot answer rejects (the charge decides what that means for an open subscription).
   */
  async chargeDelivered(keyId: string, tokens: number): Promise<ChargeDecision> {
    const decision = await this.limiter.take(keyId, tokens);
    if (decision.allowed) return { allowed: true };
    this.metrics.refused?.('subscriptionEvents');
    return { allowed: false, retryAfterSeconds: decision.retryAfterSeconds };
  }

  /** The most tokens the key's bucket can grant at once. */
  get burst(): number {
    return this.limiter.policy.burst;
  }

  /**
   * An operation that writes or plans `units` items (rateLimitUnits: mutation fields, jobs of a `submitJobs`, graphs validated) spends a token per
   * item: the request's own token was taken by `admit`, this takes the rest. More than the bucket can ever hold
   * (the key's burst) is BAD_USER_INPUT (waiting would not help: split the batch); not enough tokens now is
   * RATE_LIMITED. Nothing ran yet.
   */
  async admitUnits(identity: CallerIdentity, units: number): Promise<void> {
    if (units <= 1) return;
    const { burst } = this.limiter.policy;
    if (units > burst) {
      this.metrics.refused?.('BAD_USER_INPUT');
      throw gatewayError('BAD_USER_INPUT', overBurstMessage(units, burst), { max: burst, requested: units });
    }
    await this.take(identity, units - 1);
  }

  /** Scope of each root field (FORBIDDEN). */
  checkScopes(identity: CallerIdentity, document: DocumentNode, operation: OperationDefinitionNode): void {
    try {
      assertScopesFor(identity, operation.operation, this.operationOf(document, operation).rootFields);
    } catch (e) {
      this.metrics.refused?.('FORBIDDEN');
      throw e;
    }
  }

  /**
   * Scope and complexity of a parsed, validated operation. DocumentGuard measured the document already;
   * measured again here (linear, memoised) because Apollo may run a document the middleware did not see
   * (an automatic persisted query sent by hash, with other variables). `costs`: the supergraph's cost
   * directives (Apollo's API schema has none).
   */
  check(
    identity: CallerIdentity,
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown> | undefined | null,
    costs?: CostDirectives,
  ): void {
    this.checkScopes(identity, document, operation);
    const v = this.measure(schema, costs, document, operation, variables)?.violation;
    if (v) {
      this.metrics.refused?.('QUERY_TOO_COMPLEX');
      const { message, extensions } = tooComplex(v);
      throw gatewayError('QUERY_TOO_COMPLEX', message, extensions);
    }
  }

  private operationOf(document: DocumentNode, operation: OperationDefinitionNode): KnownOperation {
    let doc = this.known.get(document);
    if (!doc) {
      doc = new Map();
      this.known.set(document, doc);
    }
    let op = doc.get(operation);
    if (!op) {
      op = { rootFields: rootFieldNames(document, operation) };
      doc.set(operation, op);
    }
    return op;
  }

  private measure(
    schema: GraphQLSchema,
    costs: CostDirectives | undefined,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown> | undefined | null,
  ): ComplexityResult | null {
    const op = this.operationOf(document, operation);
    const hit = op.measured;
    if (hit && hit.schema === schema && hit.costs === costs) return hit.result;
    const result = measureOperation(schema, document, operation.name?.value, variables, this.limits, costs);
    if (!result?.dependsOnVariables) op.measured = { schema, costs, result };
    return result;
  }
}
