import type { GraphQLSchema } from 'graphql';
import { perRequest, TickBatcher } from '#libs/redis';
import { buildFederatedSchema, printSubgraphSdl, type SubgraphSchemaSpec } from '#libs/subgraph';
import type { JobsService } from '../service/jobs-service.js';
import type { JobsContext } from './context.js';
import { BatchSubmitResolver } from './batch-submit.resolver.js';
import { JobEventsResolver, JobsResolver } from './jobs.resolver.js';
import { jobsForCaller } from './job-lookup.js';
import type { JobType } from './types.js';

const jobsSubgraph = (service: JobsService | null): SubgraphSchemaSpec => ({
  resolvers: [
    [JobsResolver, service && new JobsResolver(service)],
    [JobEventsResolver, service && new JobEventsResolver(service)],
    [BatchSubmitResolver, service && new BatchSubmitResolver(service)],
  ],
  subscriptions: true,
});

/** The subgraph's federation SDL, as composed into the supergraph (`npm run compose`). */
export const printJobsSubgraphSdl = (): Promise<string> => printSubgraphSdl(jobsSubgraph(null));

/** The executable federation-2 subgraph schema (with _entities and _service). */
export function buildJobsSubgraphSchema(service: JobsService): Promise<GraphQLSchema> {
  // every Job representation of one _entities request: one batch, read as `job` reads (scope, tenant)
  const jobsOf = perRequest(
    (ctx: JobsContext) => new TickBatcher<string, JobType | null>((ids) => jobsForCaller(service, ctx, ids)),
  );
  return buildFederatedSchema(jobsSubgraph(service), (map) => ({
    Job: {
      ...map.Job,
      // another subgraph (artifacts) or a router asks for Jobs by id
      __resolveReference: (ref: { id: string }, ctx: JobsContext) => jobsOf(ctx).load(ref.id),
    },
  }));
}
