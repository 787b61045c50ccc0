import { operationFromDocument, Schema, Supergraph } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode } from '@apollo/query-planner';
import type { DocumentNode, GraphQLSchema } from 'graphql';

export interface SubscriptionPlan {
  /** The fetch that opens the subscription on the subgraph that owns its root field. */
  primary: FetchNode;
  /** Fetches of the other subgraphs' fields, run for each event with the event as the data. */
  rest?: PlanNode;
}

export class NotASubscriptionPlan extends Error {
  constructor(kind: string | undefined) {
    super(`expected a Subscription query plan, got ${kind ?? 'an empty plan'}`);
    this.name = 'NotASubscriptionPlan';
  }
}

/**
 * One composed supergraph, ready to plan: the same objects @apollo/gateway builds from the SDL
 * (Supergraph, its API schema, the QueryPlanner), so subscriptions are planned exactly like queries.
 * Immutable: a hot reload builds a new one.
 */
export class SupergraphRuntime {
  readonly supergraph: Supergraph;
  /** Federation-internals API schema (what executeQueryPlan shapes results with). */
  readonly apiSchema: Schema;
  /** graphql-js API schema (what clients see: validation, introspection). */
  readonly apiGraphQLSchema: GraphQLSchema;
  /** graphql-js supergraph schema (what executeQueryPlan resolves type conditions against). */
  readonly supergraphGraphQLSchema: GraphQLSchema;
  readonly serviceNames: string[];
  private readonly planner: QueryPlanner;
  private readonly plans = new Map<string, SubscriptionPlan>();

  constructor(readonly supergraphSdl: string) {
    this.supergraph = Supergraph.build(supergraphSdl);
    this.apiSchema = this.supergraph.apiSchema();
    this.apiGraphQLSchema = this.apiSchema.toGraphQLJSSchema();
    this.supergraphGraphQLSchema = this.supergraph.schema.toGraphQLJSSchema();
    this.serviceNames = [...this.supergraph.subgraphs().names()];
    this.planner = new QueryPlanner(this.supergraph);
  }

  /** Plans a (validated) subscription document; plans are cached per document text and operation. */
  planSubscription(
    document: DocumentNode,
    documentText: string,
    operationName?: string | null,
  ): SubscriptionPlan {
    const cacheKey = `${operationName ?? ''}\u0000${documentText}`;
    const cached = this.plans.get(cacheKey);
    if (cached) return cached;
    const operation = operationFromDocument(this.apiSchema, document, {
      operationName: operationName ?? undefined,
    });
    const plan = this.planner.buildQueryPlan(operation);
    if (plan.node?.kind !== 'Subscription') throw new NotASubscriptionPlan(plan.node?.kind);
    const result: SubscriptionPlan = { primary: plan.node.primary, rest: plan.node.rest };
    // Bounded: documents are client-controlled; past the bound, plan again rather than grow without limit.
    if (this.plans.size < 1000) this.plans.set(cacheKey, result);
    return result;
  }
}
