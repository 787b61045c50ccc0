import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '#libs/testing';
import { SupergraphRuntime } from '../../subscriptions/supergraph-runtime.js';
import type { GuardLimits } from '../document-guard.js';

/** The gateway's defaults (gateway-config.ts), for tests of DocumentGuard. */
export const DEFAULT_GUARD_LIMITS: GuardLimits = {
  maxBytes: 64 * 1024,
  maxTokens: 5_000,
  maxDefinitions: 50,
  maxFragmentSpreads: 200,
  maxStringBytes: 16 * 1024,
  maxDepth: 12,
  maxAliases: 30,
  maxRootFields: 20,
  maxCost: 25_000,
  maxSelections: 10_000,
  maxDirectives: 50,
  defaultListSize: 20,
};

/** The committed supergraph, ready as the gateway loads it. */
export function supergraphRuntime(): SupergraphRuntime {
  return new SupergraphRuntime(readFileSync(join(REPO_ROOT, 'graphql/supergraph.graphql'), 'utf8'));
}

/** The API schema clients see, from the committed supergraph. */
export function apiSchema() {
  return supergraphRuntime().apiGraphQLSchema;
}

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
