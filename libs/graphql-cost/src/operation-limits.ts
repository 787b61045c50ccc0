import type { ComplexityLimitName, ComplexityLimits, ComplexityViolation } from './query-complexity.js';

/**
 * The bounds of one GraphQL operation, our gateway's defaults (MAX_QUERY_DEPTH, MAX_QUERY_ALIASES,
 * MAX_ROOT_FIELDS, MAX_QUERY_COST, MAX_RECURSIVE_SELECTIONS, MAX_QUERY_DIRECTIVES, QUERY_COST_DEFAULT_LIST_SIZE):
 * what the gateway enforces on every caller, and a subgraph on the callers that did not come through our gateway
 * (docs/security.md). Over any: QUERY_TOO_COMPLEX with `extensions.limits: [{ limit, actual, max }]`, the limit
 * named as in COMPLEXITY_LIMIT_NAMES.
 */
export const OPERATION_LIMITS: Readonly<ComplexityLimits> = {
  maxDepth: 12,
  maxAliases: 30,
  maxRootFields: 20,
  maxCost: 25_000,
  maxSelections: 10_000,
  maxDirectives: 50,
  defaultListSize: 20,
};

/** How `extensions.limits[].limit` of QUERY_TOO_COMPLEX names each bound (the API's names). */
export const COMPLEXITY_LIMIT_NAMES: Readonly<Record<ComplexityLimitName, string>> = {
  maxDepth: 'depth',
  maxAliases: 'aliases',
  maxRootFields: 'rootFields',
  maxCost: 'cost',
  maxSelections: 'selections',
  maxDirectives: 'directives',
};

/** The QUERY_TOO_COMPLEX message and extensions of a violation, as the gateway and the subgraphs answer it. */
export function tooComplex(v: ComplexityViolation): {
  message: string;
  extensions: { limits: [{ limit: string; actual: number; max: number }] };
} {
  const limit = COMPLEXITY_LIMIT_NAMES[v.limit];
  return {
    message: `operation too complex: ${limit} ${v.actual} > ${v.max}`,
    extensions: { limits: [{ limit, actual: v.actual, max: v.max }] },
  };
}
