import type { ComplexityLimitName, ComplexityViolation } from './query-complexity.js';

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
