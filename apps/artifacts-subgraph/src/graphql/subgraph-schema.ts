import 'reflect-metadata';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import type { GraphQLSchema } from 'graphql';
import { gql } from 'graphql-tag';
import { FEDERATION_LINK } from '#libs/auth';
import { perRequest, TickBatcher } from '#libs/redis';
import { buildSchema, createResolversMap, type ResolverData } from 'type-graphql';
import type { ArtifactService } from '../uploads/artifact-service.js';
import { ArtifactResolver } from './artifact.resolver.js';
import type { ArtifactsContext } from './context.js';
import { JobArtifactsResolver } from './job-artifacts.resolver.js';
import { ArtifactType, JobReference } from './types.js';

/** type-graphql builds the resolvers; the SDL is printed with its @key directives for federation. */
async function buildTypeGraphqlSchema(service: ArtifactService | null): Promise<GraphQLSchema> {
  const resolvers = new Map<abstract new (...args: never[]) => unknown, unknown>([
    [ArtifactResolver, new ArtifactResolver(service!)],
    [JobArtifactsResolver, new JobArtifactsResolver(service!)],
  ]);
  return buildSchema({
    resolvers: [ArtifactResolver, JobArtifactsResolver],
    // Job is only reachable through a field resolver: without this it vanishes from the schema.
    orphanedTypes: [JobReference],
    container: {
      get: (cls: abstract new (...args: never[]) => unknown, _data: ResolverData) => resolvers.get(cls),
    },
    skipCheck: true,
    validate: false,
  });
}

/** The subgraph's federation SDL, as composed into the supergraph. */
export async function printArtifactsSubgraphSdl(): Promise<string> {
  return `${FEDERATION_LINK}\n\n${printSchemaWithDirectives(await buildTypeGraphqlSchema(null))}`;
}

/** The executable federation-2 subgraph schema (with _entities and _service). */
export async function buildArtifactsSubgraphSchema(service: ArtifactService): Promise<GraphQLSchema> {
  const schema = await buildTypeGraphqlSchema(service);
  const sdl = `${FEDERATION_LINK}\n\n${printSchemaWithDirectives(schema)}`;
  const map = createResolversMap(schema) as Record<string, Record<string, unknown>>;
  // every Artifact representation of one _entities request: one pipelined read
  const artifactsOf = perRequest(
    (ctx: ArtifactsContext) =>
      new TickBatcher<string, ArtifactType | null>(async (ids) =>
        (await service.artifactsByIds(ctx.identity, ids)).map((r) => (r ? ArtifactType.from(r) : null)),
      ),
  );
  return buildSubgraphSchema([
    {
      typeDefs: gql(sdl),
      resolvers: {
        ...map,
        Artifact: {
          ...map.Artifact,
          __resolveReference: (ref: { id: string }, ctx: ArtifactsContext) => artifactsOf(ctx).load(ref.id),
        },
        Job: {
          ...map.Job,
          __resolveReference: (ref: { id: string }) => Object.assign(new JobReference(), { id: ref.id }),
        },
      } as never,
    },
  ]);
}
