/**
 * Bounds on the shape of one GraphQL operation: our gateway's defaults (MAX_ROOT_FIELDS, MAX_QUERY_ALIASES), and
 * what a subgraph enforces on the callers that did not come through our gateway (docs/federation.md). Over
 * either: QUERY_TOO_COMPLEX with `extensions.limits: [{ limit: 'rootFields' | 'aliases', actual, max }]`.
 * Aliases count through fragments, at every level; root fields are the operation's top-level fields.
 */
export interface OperationLimits {
  maxRootFields: number;
  maxAliases: number;
}

export const OPERATION_LIMITS: Readonly<OperationLimits> = { maxRootFields: 20, maxAliases: 30 };
