import { operationFromDocument, Schema, Supergraph } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode } from '@apollo/query-planner';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { CostDirectives } from '#libs/graphql-cost';
import { fixFederationVariableCollection } from '../supergraph/federation-fixes.js';
import { ByteLruCache } from './plan-cache.js';

/** Default bound of the subscription plan cache (SUBSCRIPTION_PLAN_CACHE_BYTES). */
export const DEFAULT_PLAN_CACHE_BYTES = 8 * 1024 * 1024;

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
  /** The supergraph's @cost/@listSize, which the API schemas lack: what the cost limit counts with. */
  readonly costs: CostDirectives;
  private readonly planner: QueryPlanner;
  private readonly plans: ByteLruCache<SubscriptionPlan>;

  constructor(
    readonly supergraphSdl: string,
    planCacheBytes = DEFAULT_PLAN_CACHE_BYTES,
  ) {
    fixFederationVariableCollection(); // before anything is planned
    this.plans = new ByteLruCache(planCacheBytes);
    this.supergraph = Supergraph.build(supergraphSdl);
    this.apiSchema = this.supergraph.apiSchema();
    this.apiGraphQLSchema = this.apiSchema.toGraphQLJSSchema();
    this.supergraphGraphQLSchema = this.supergraph.schema.toGraphQLJSSchema();
    this.serviceNames = [...this.supergraph.subgraphs().names()];
    this.costs = CostDirectives.fromSdl(supergraphSdl);
    this.planner = new QueryPlanner(this.supergraph);
  }

  /** Entries and estimated bytes of the plan cache. */
  get planCache(): { size: number; bytes: number; maxBytes: number } {
    return { size: this.plans.size, bytes: this.plans.bytes, maxBytes: this.plans.maxBytes };
  }

  /**
   * Plans a (validated) subscription document. Plans are cached by a hash of the operation name and
   * document text, least recently used first out once the cache holds more than its bytes.
   */
  planSubscription(
    document: DocumentNode,
    documentText: string,
    operationName?: string | null,
  ): SubscriptionPlan {
    const cacheKey = ByteLruCache.key(operationName ?? '', documentText);
    const cached = this.plans.get(cacheKey);
    if (cached) return cached;
    const operation = operationFromDocument(this.apiSchema, document, {
      operationName: operationName ?? undefined,
    });
    const plan = this.planner.buildQueryPlan(operation);
    if (plan.node?.kind !== 'Subscription') throw new NotASubscriptionPlan(plan.node?.kind);
    const result: SubscriptionPlan = { primary: plan.node.primary, rest: plan.node.rest };
    this.plans.set(cacheKey, result, planBytes(result));
    return result;
  }
}

/** What a cached plan holds, roughly: its fetches' operation texts and the rest of the plan as JSON. */
function planBytes(plan: SubscriptionPlan): number {
  const text = (node: unknown) =>
    JSON.stringify(node, (k, v: unknown) => (k === 'operationDocumentNode' ? undefined : v)) ?? '';
  // × 2: the objects behind the JSON take more than its characters.
  return 2 * (Buffer.byteLength(text(plan.primary)) + Buffer.byteLength(text(plan.rest ?? null))) + 256;
}
