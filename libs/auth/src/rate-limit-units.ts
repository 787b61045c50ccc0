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
 * Query root fields that each spend a rate-limit token per selection, aliased or not: those that run the planner
 * (`validateGraph`: a whole plan, as a submit does, without the write). Every mutation root field spends one
 * (each writes: a job, an upload, a cancel, a retry, a delete, a commit's copy), `submitJobs` one per input.
 */
const ONE_UNIT_QUERY_FIELDS: ReadonlySet<string> = new Set(['validateGraph']);

/**
 * Rate-limit tokens one operation owes for the work it asks for: each root mutation field one (`submitJob`,
 * `createUpload`, `cancelJob`, `retryJob`, `completeUpload`, `deleteArtifact`, …), each `submitJobs` one per input
 * (a single value where a list is expected counts one, as GraphQL coerces it), each root `validateGraph` one; 0 for
 * anything else. The per-key rate limit spends this many tokens (at least the request's one), at our gateway and at
 * a subgraph an API key calls directly, so a batch or aliases (up to MAX_ROOT_FIELDS per operation) are no way
 * around it. Validation has run: arguments are well-formed and
 * variables present; fragments at the root are followed (they cannot nest forever once validated, and each is
 * visited once: a fragment spread twice selects the same response keys, which GraphQL merges and runs once).
 */
export function rateLimitUnits(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | null | undefined,
): number {
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
      } else units += fieldUnits(sel, operation.operation, variables);
    }
    return units;
  };
  return count(operation.selectionSet);
}

function fieldUnits(
  field: FieldNode,
  operation: OperationDefinitionNode['operation'],
  variables: Record<string, unknown> | null | undefined,
): number {
  if (operation === 'query') return ONE_UNIT_QUERY_FIELDS.has(field.name.value) ? 1 : 0;
  if (operation !== 'mutation' || field.name.value === '__typename') return 0;
  if (field.name.value !== 'submitJobs') return 1;
  const arg = field.arguments?.find((a) => a.name.value === 'inputs');
  const value: unknown = arg ? valueFromASTUntyped(arg.value, variables ?? undefined) : undefined;
  return Array.isArray(value) ? value.length : 1;
}

/** The BAD_USER_INPUT message for an operation owing more tokens than the key's bucket can ever hold. */
export const overBurstMessage = (units: number, burst: number): string =>
  `this operation costs ${units} rate-limit tokens (one per mutation, job submitted and graph validated), more than this key's rate-limit burst of ${burst}: send at most ${burst} per request`;
