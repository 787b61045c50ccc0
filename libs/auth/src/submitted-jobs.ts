import {
  Kind,
  valueFromASTUntyped,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * Jobs one operation submits: each root `submitJob` counts one, each root `submitJobs` one per input (a single
 * value where a list is expected counts one, as GraphQL coerces it). The per-key rate limit spends this many
 * tokens, at our gateway and at a subgraph an API key calls directly, so a batch (or aliased submits) is no
 * way around it. Validation has run: arguments are well-formed and variables present; fragments at the root
 * are followed (they cannot nest forever once validated, and each is visited once: a fragment spread twice
 * selects the same response keys, which GraphQL merges and runs once).
 */
export function submittedJobs(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | null | undefined,
): number {
  if (operation.operation !== 'mutation') return 0;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const seen = new Set<string>();
  const count = (set: SelectionSetNode): number => {
    let jobs = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.INLINE_FRAGMENT) jobs += count(sel.selectionSet);
      else if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const f = fragments.get(sel.name.value);
        if (f && !seen.has(f.name.value)) {
          seen.add(f.name.value);
          jobs += count(f.selectionSet);
        }
      } else if (sel.name.value === 'submitJob') jobs += 1;
      else if (sel.name.value === 'submitJobs') {
        const arg = sel.arguments?.find((a) => a.name.value === 'inputs');
        const value: unknown = arg ? valueFromASTUntyped(arg.value, variables ?? undefined) : undefined;
        jobs += Array.isArray(value) ? value.length : 1;
      }
    }
    return jobs;
  };
  return count(operation.selectionSet);
}
