import 'reflect-metadata';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { createPubSub } from '@graphql-yoga/subscription';
import type { GraphQLSchema } from 'graphql';
import { gql } from 'graphql-tag';
import { FEDERATION_LINK } from '#libs/auth';
import { perRequest, TickBatcher } from '#libs/redis';
import { buildSchema, createResolversMap, type ResolverData } from 'type-graphql';
import type { JobsService } from '../service/jobs-service.js';
import type { JobsContext } from './context.js';
import { JobEventsResolver, JobsResolver } from './jobs.resolver.js';
import { JobType } from './types.js';

/** type-graphql builds types and resolvers from the classes; federation needs the SDL with its @key directives. */
async function buildTypeGraphqlSchema(service: JobsService | null): Promise<GraphQLSchema> {
  type ResolverClass = abstract new (...args: never[]) => unknown;
  const instances = new Map<ResolverClass, unknown>([
    [JobsResolver, new JobsResolver(service!)],
    [JobEventsResolver, new JobEventsResolver(service!)],
  ]);
  return buildSchema({
    resolvers: [JobsResolver, JobEventsResolver],
    container: { get: (cls: ResolverClass, _data: ResolverData) => instances.get(cls) },
    // type-graphql wants a pubSub even though every subscription here has its own subscribe function
    pubSub: createPubSub(),
    skipCheck: true,
    validate: false,
  });
}

/** The subgraph's federation SDL, as composed into the supergraph (`npm run compose`). */
export async function printJobsSubgraphSdl(): Promise<string> {
  return `${FEDERATION_LINK}\n\n${printSchemaWithDirectives(await buildTypeGraphqlSchema(null))}`;
}

/** The executable federation-2 subgraph schema (with _entities and _service). */
export async function buildJobsSubgraphSchema(service: JobsService): Promise<GraphQLSchema> {
  const schema = await buildTypeGraphqlSchema(service);
  const sdl = `${FEDERATION_LINK}\n\n${printSchemaWithDirectives(schema)}`;
  const map = createResolversMap(schema) as Record<string, Record<string, unknown>>;
  // every Job representation of one _entities request: one batch, same tenant scoping as `job`
  const jobsOf = perRequest(
    (ctx: JobsContext) =>
      new TickBatcher<string, JobType | null>(async (ids) =>
        (await service.jobsByIds(ctx.identity.tenant, ids)).map((v) => (v ? JobType.from(v) : null)),
      ),
  );
  return buildSubgraphSchema([
    {
      typeDefs: gql(sdl),
      resolvers: {
        ...map,
        Job: {
          ...map.Job,
          // another subgraph (artifacts) or a router asks for Jobs by id
          __resolveReference: (ref: { id: string }, ctx: JobsContext) => jobsOf(ctx).load(ref.id),
        },
      } as never,
    },
  ]);
}
