import {
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { hasScope } from '#libs/auth';
import type { Scope } from '#libs/contracts';
import type { CallerIdentity } from '../subscriptions/upstream-pool.js';
import { gatewayError } from '../gateway-errors.js';

/**
 * The scope each public root field needs (../shared/api/contract.graphql). The gateway refuses early with
 * FORBIDDEN; the subgraphs check again (and check nested fields), so this is a first line, not the only one.
 * Root fields not listed need only a valid key here and are left to their subgraph.
 */
export const ROOT_FIELD_SCOPES: Record<'query' | 'mutation' | 'subscription', Record<string, Scope>> = {
  query: {
    job: 'jobs:read',
    jobs: 'jobs:read',
    capabilities: 'jobs:read',
    templates: 'jobs:read',
    validateGraph: 'jobs:read',
    jobFeedHead: 'jobs:read',
    workers: 'admin',
    artifact: 'artifacts:read',
  },
  mutation: {
    submitJob: 'jobs:write',
    cancelJob: 'jobs:write',
    retryJob: 'jobs:write',
    createUpload: 'artifacts:write',
    completeUpload: 'artifacts:write',
    deleteArtifact: 'artifacts:write',
    createApiKey: 'admin',
    revokeApiKey: 'admin',
  },
  subscription: { jobEvents: 'jobs:read', jobFeed: 'jobs:read' },
};

export function rootFieldNames(document: DocumentNode, operation: OperationDefinitionNode): string[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const names = new Set<string>();
  const seen = new Set<string>();
  const collect = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) names.add(s.name.value);
      else if (s.kind === Kind.INLINE_FRAGMENT) collect(s.selectionSet);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        const f = fragments.get(s.name.value);
        if (f) collect(f.selectionSet);
      }
    }
  };
  collect(operation.selectionSet);
  return [...names];
}

/** Throws FORBIDDEN naming the first root field whose scope the caller lacks. */
export function assertRootFieldScopes(
  identity: CallerIdentity,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): void {
  assertScopesFor(identity, operation.operation, rootFieldNames(document, operation));
}

/** As assertRootFieldScopes, for root field names already collected. */
export function assertScopesFor(
  identity: CallerIdentity,
  type: OperationDefinitionNode['operation'],
  fields: readonly string[],
): void {
  const policy = ROOT_FIELD_SCOPES[type];
  for (const field of fields) {
    const scope = policy[field];
    if (scope && !hasScope({ ...identity, exp: 0 }, scope))
      throw gatewayError('FORBIDDEN', `${field} needs the ${scope} scope`, { requiredScope: scope });
  }
}
