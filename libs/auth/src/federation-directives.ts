import { Kind, visit, type DocumentNode } from 'graphql';
import type { Scope } from '#libs/contracts';

/**
 * Federation directives the subgraphs put on their SDL (via type-graphql `@Directive`), so that a foreign
 * router (Apollo Router, Hive Gateway, Cosmo) composing our subgraphs into its own supergraph can share our
 * value types, enforce our scopes and price our lists. Our own gateway and subgraphs enforce the same rules
 * in code; these only make them visible.
 */

/** The newest federation spec @apollo/subgraph 2.14 knows (federation-internals FEDERATION_VERSIONS). */
export const FEDERATION_SPEC_VERSION = 'v2.14';

export const FEDERATION_LINK = `extend schema @link(url: "https://specs.apollo.dev/federation/${FEDERATION_SPEC_VERSION}", import: ["@key", "@shareable", "@authenticated", "@requiresScopes", "@cost", "@listSize"])`;

/** `scope` or `admin` (admin holds every scope, as `hasScope` says): OR of the inner lists. */
export const requiresScope = (scope: Scope): string =>
  scope === 'admin'
    ? '@requiresScopes(scopes: [["admin"]])'
    : `@requiresScopes(scopes: [["${scope}"], ["admin"]])`;

/** A list of unknown length: what a cost-aware router assumes for it. */
export const assumedListSize = (size: number): string => `@listSize(assumedSize: ${size})`;

/**
 * A Relay connection sliced by `first`. `first` is optional (it defaults server-side), so routers must
 * not demand it; `assumedSize` is what they count when it is absent.
 */
export const connectionListSize = (defaultSize: number): string =>
  `@listSize(assumedSize: ${defaultSize}, slicingArguments: ["first"], sizedFields: ["edges"], requireOneSlicingArgument: false)`;

/**
 * A list a `first` argument slices (not a connection): routers count `first` when given, else `assumedSize`,
 * which must be the most it can answer. `first` is optional.
 */
export const slicedListSize = (assumedSize: number): string =>
  `@listSize(assumedSize: ${assumedSize}, slicingArguments: ["first"], requireOneSlicingArgument: false)`;

export const cost = (weight: number): string => `@cost(weight: ${weight})`;

/**
 * Directives of `for: SECURITY` features that @apollo/gateway cannot enforce and so refuses to load (Apollo
 * Router features). Our gateway composes without them and enforces the same scopes in code.
 */
const ROUTER_ONLY_DIRECTIVES = new Set(['authenticated', 'requiresScopes']);

/** A subgraph SDL as our own gateway can compose it (the committed SDL keeps the directives for foreign routers). */
export function withoutRouterOnlyDirectives(doc: DocumentNode): DocumentNode {
  return visit(doc, {
    [Kind.DIRECTIVE]: (node) => (ROUTER_ONLY_DIRECTIVES.has(node.name.value) ? null : undefined),
  });
}
