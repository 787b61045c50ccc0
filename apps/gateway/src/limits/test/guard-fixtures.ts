import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '#libs/testing';
import { OPERATION_LIMITS } from '#libs/graphql-cost';
import { SupergraphRuntime } from '../../subscriptions/supergraph-runtime.js';
import type { GuardLimits } from '../document-guard.js';

/** The walks' hostile documents, shared with #libs/graphql-cost's specs. */
export { cpuMs, EXPONENTIAL_WALK_MS, fragmentBomb } from '#libs/testing';

/** The gateway's defaults (gateway-config.ts), for tests of DocumentGuard. */
export const DEFAULT_GUARD_LIMITS: GuardLimits = {
  maxBytes: 64 * 1024,
  maxTokens: 5_000,
  maxDefinitions: 50,
  maxFragmentSpreads: 200,
  maxStringBytes: 16 * 1024,
  ...OPERATION_LIMITS,
};

/** The committed supergraph, ready as the gateway loads it. */
export function supergraphRuntime(): SupergraphRuntime {
  return new SupergraphRuntime(readFileSync(join(REPO_ROOT, 'graphql/supergraph.graphql'), 'utf8'));
}

/** The API schema clients see, from the committed supergraph. */
export function apiSchema() {
  return supergraphRuntime().apiGraphQLSchema;
}
