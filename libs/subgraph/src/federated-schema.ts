import 'reflect-metadata';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { getDocumentNodeFromSchema, printSchemaWithDirectives } from '@graphql-tools/utils';
import { createPubSub } from '@graphql-yoga/subscription';
import { parse, type GraphQLSchema } from 'graphql';
import { gql } from 'graphql-tag';
import { FEDERATION_LINK } from '#libs/auth';
import { CostDirectives } from '#libs/graphql-cost';
import { buildSchema, createResolversMap, type ResolverData } from 'type-graphql';

type ResolverClass = abstract new (...args: never[]) => unknown;
type ClassType = new (...args: never[]) => unknown;
type NonEmptyArray<T> = [T, ...T[]];
/** type-graphql's resolvers map of a schema: type name, field name, resolver. */
export type ResolversMap = Record<string, Record<string, unknown>>;

/** What a subgraph is made of: type-graphql resolver classes and their instances. */
export interface SubgraphSchemaSpec {
  /** Each resolver class with its instance (null when only the SDL is printed). */
  resolvers: ReadonlyArray<readonly [ResolverClass, unknown]>;
  /** Types reachable only through a field resolver (they would vanish from the schema otherwise). */
  orphanedTypes?: ClassType[];
  /** The subgraph has subscriptions (type-graphql wants a pubSub even when each has its own subscribe). */
  subscriptions?: boolean;
}

/** type-graphql builds types and resolvers from the classes; federation needs the SDL with its @key directives. */
function buildTypeGraphqlSchema(spec: SubgraphSchemaSpec): Promise<GraphQLSchema> {
  const instances = new Map<ResolverClass, unknown>(spec.resolvers);
  return buildSchema({
    resolvers: spec.resolvers.map(([cls]) => cls) as unknown as NonEmptyArray<ClassType>,
    orphanedTypes: spec.orphanedTypes,
    container: { get: (cls: ResolverClass, _data: ResolverData) => instances.get(cls) },
    ...(spec.subscriptions ? { pubSub: createPubSub() } : {}),
    skipCheck: true,
    // class-validator decorators on input classes: field-level checks at the GraphQL edge (zod stays the
    // contract layer behind it); an input class without decorators passes
    validate: { forbidUnknownValues: false },
  });
}

const federationSdl = (schema: GraphQLSchema) => `${FEDERATION_LINK}\n\n${printSchemaWithDirectives(schema)}`;

/** The subgraph's federation SDL, as composed into the supergraph (`npm run compose`). */
export async function printSubgraphSdl(spec: SubgraphSchemaSpec): Promise<string> {
  return federationSdl(await buildTypeGraphqlSchema(spec));
}

/**
 * The executable federation-2 subgraph schema (with _entities and _service). `entities` adds the entity
 * types' `__resolveReference` (and anything else) to type-graphql's resolvers map.
 */
export async function buildFederatedSchema(
  spec: SubgraphSchemaSpec,
  entities: (map: ResolversMap) => ResolversMap = () => ({}),
): Promise<GraphQLSchema> {
  const schema = await buildTypeGraphqlSchema(spec);
  const map = createResolversMap(schema) as ResolversMap;
  return buildSubgraphSchema([
    { typeDefs: gql(federationSdl(schema)), resolvers: { ...map, ...entities(map) } as never },
  ]);
}

/**
 * The @cost/@listSize an executable subgraph schema declares (buildFederatedSchema builds it from its federation
 * SDL, so each definition keeps its directives): what a direct caller's operation is priced with, as a foreign
 * router composing the subgraph prices it.
 */
export function subgraphCosts(schema: GraphQLSchema): CostDirectives {
  // `_entities` (added by federation, without directives) answers one entity per representation: sized by their
  // number, not the default list size (a router's fetch of 5 jobs is not 20 of them; 10,000 are not 20 either)
  const entities = parse(
    'type Query { _entities(representations: [_Any!]!): [_Entity]! @listSize(slicingArguments: ["representations"]) }',
    { noLocation: true },
  ).definitions;
  const doc = getDocumentNodeFromSchema(schema);
  return CostDirectives.fromSdl({ ...doc, definitions: [...doc.definitions, ...entities] });
}
