import {
  Kind,
  valueFromASTUntyped,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * Root mutation fields that each write one item per selection (a job, an upload's record), and so spend a
 * rate-limit token each, aliased or not. `submitJobs` writes one per input: see rateLimitUnits.
 */
const ONE_UNIT_MUTATIONS: ReadonlySet<string> = new Set(['submitJob', 'createUpload']);

/**
 * Rate-limit tokens one operation owes for what it writes: each root `submitJob` and each root `createUpload`
 * one, each `submitJobs` one per input (a single value where a list is expected counts one, as GraphQL coerces
 * it); 0 for anything else. The per-key rate limit spends this many tokens (at least the request's one), at our
 * gateway and at a subgraph an API key calls directly, so a batch or aliases (up to MAX_ROOT_FIELDS per
 * operation) are no way around it. Validation has run: arguments are well-formed and variables present;
 * fragments at the root are followed (they cannot nest forever once validated, and each is visited once: a
 * fragment spread twice selects the same response keys, which GraphQL merges and runs once).
 */
export function rateLimitUnits(
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
    let units = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.INLINE_FRAGMENT) units += count(sel.selectionSet);
      else if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const f = fragments.get(sel.name.value);
        if (f && !seen.has(f.name.value)) {
          seen.add(f.name.value);
          units += count(f.selectionSet);
        }
      } else units += fieldUnits(sel, variables);
    }
    return units;
  };
  return count(operation.selectionSet);
}

function fieldUnits(field: FieldNode, variables: Record<string, unknown> | null | undefined): number {
  if (ONE_UNIT_MUTATIONS.has(field.name.value)) return 1;
  if (field.name.value !== 'submitJobs') return 0;
  const arg = field.arguments?.find((a) => a.name.value === 'inputs');
  const value: unknown = arg ? valueFromASTUntyped(arg.value, variables ?? undefined) : undefined;
  return Array.isArray(value) ? value.length : 1;
}

/** The BAD_USER_INPUT message for an operation owing more tokens than the key's bucket can ever hold. */
export const overBurstMessage = (units: number, burst: number): string =>
  `this operation writes ${units} items (one rate-limit token per job submitted and per upload created), more than this key's rate-limit burst of ${burst}: send at most ${burst} per request`;
