import type { GraphQLSchema } from 'graphql';
import { perRequest, TickBatcher } from '#libs/redis';
import { buildFederatedSchema, printSubgraphSdl, type SubgraphSchemaSpec } from '#libs/subgraph';
import type { ArtifactService } from '../uploads/artifact-service.js';
import { ArtifactResolver } from './artifact.resolver.js';
import type { ArtifactsContext } from './context.js';
import { JobArtifactsResolver } from './job-artifacts.resolver.js';
import { ArtifactType, JobReference } from './types.js';

const artifactsSubgraph = (service: ArtifactService | null): SubgraphSchemaSpec => ({
  resolvers: [
    [ArtifactResolver, service && new ArtifactResolver(service)],
    [JobArtifactsResolver, service && new JobArtifactsResolver(service)],
  ],
  // Job is only reachable through a field resolver: without this it vanishes from the schema.
  orphanedTypes: [JobReference],
});

/** The subgraph's federation SDL, as composed into the supergraph. */
export const printArtifactsSubgraphSdl = (): Promise<string> => printSubgraphSdl(artifactsSubgraph(null));

/** The executable federation-2 subgraph schema (with _entities and _service). */
export function buildArtifactsSubgraphSchema(service: ArtifactService): Promise<GraphQLSchema> {
  // every Artifact representation of one _entities request: one pipelined read
  const artifactsOf = perRequest(
    (ctx: ArtifactsContext) =>
      new TickBatcher<string, ArtifactType | null>(async (ids) =>
        (await service.artifactsByIds(ctx.identity, ids)).map((r) => (r ? ArtifactType.from(r) : null)),
      ),
  );
  return buildFederatedSchema(artifactsSubgraph(service), (map) => ({
    Artifact: {
      ...map.Artifact,
      __resolveReference: (ref: { id: string }, ctx: ArtifactsContext) => artifactsOf(ctx).load(ref.id),
    },
    Job: {
      ...map.Job,
      __resolveReference: (ref: { id: string }) => Object.assign(new JobReference(), { id: ref.id }),
    },
  }));
}
