// Hostile GraphQL documents for the specs of the operation walks (#libs/graphql-cost, the gateway's DocumentGuard).

/** The document of issue 9: F0 spreads F1 twice, … F39 spreads F40 twice (2^40 expansions). */
export function fragmentBomb(n = 41, type = 'Query'): string {
  const parts = ['{ ...F0 }'];
  for (let i = 0; i < n - 1; i++) parts.push(`fragment F${i} on ${type} { ...F${i + 1} ...F${i + 1} }`);
  parts.push(`fragment F${n - 1} on ${type} { __typename }`);
  return parts.join('\n');
}

/**
 * CPU (ms) that separates a memoised walk of the fragment bomb (under 1 ms warm, tens of ms cold on a loaded CI
 * machine) from the exponential one it replaced (2^40 steps: hours). Not a speed target: those live in bench/.
 */
export const EXPONENTIAL_WALK_MS = 2_000;

/** CPU milliseconds this process spent in `f` (the build machine is shared: wall time says little). */
export function cpuMs(f: () => unknown): number {
  const before = process.cpuUsage();
  f();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}
