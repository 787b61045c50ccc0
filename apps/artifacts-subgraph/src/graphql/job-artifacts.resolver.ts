import { Ctx, Directive, FieldResolver, Resolver, Root } from 'type-graphql';
import { assumedListSize, requiresScope } from '#libs/auth';
import { perRequest, TickBatcher } from '#libs/redis';
import type { ArtifactService } from '../uploads/artifact-service.js';
import type { ArtifactsContext } from './context.js';
import { ArtifactType, JobReference } from './types.js';

@Resolver(() => JobReference)
export class JobArtifactsResolver {
  // every Job of one request (a page's _entities batch): one read for all their artifacts
  private readonly artifactsOf = perRequest(
    (ctx: ArtifactsContext) =>
      new TickBatcher<string, ArtifactType[]>(async (jobIds) =>
        (await this.service.jobsArtifacts(ctx.identity, jobIds)).map((records) =>
          records.map(ArtifactType.from),
        ),
      ),
  );

  constructor(private readonly service: ArtifactService) {}

  @Directive(requiresScope('artifacts:read'))
  @Directive(assumedListSize(50))
  @FieldResolver(() => [ArtifactType], {
    description: 'committed artifacts of the job (resolved by the artifacts subgraph)',
  })
  artifacts(@Root() job: JobReference, @Ctx() ctx: ArtifactsContext): Promise<ArtifactType[]> {
    return this.artifactsOf(ctx).load(job.id);
  }
}
