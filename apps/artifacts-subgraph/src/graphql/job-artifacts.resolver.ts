import { Ctx, Directive, FieldResolver, Resolver, Root } from 'type-graphql';
import { assumedListSize, requiresScope } from '#libs/auth';
import type { ArtifactService } from '../uploads/artifact-service.js';
import type { ArtifactsContext } from './context.js';
import { ArtifactType, JobReference } from './types.js';

@Resolver(() => JobReference)
export class JobArtifactsResolver {
  constructor(private readonly service: ArtifactService) {}

  @Directive(requiresScope('artifacts:read'))
  @Directive(assumedListSize(50))
  @FieldResolver(() => [ArtifactType], {
    description: 'committed artifacts of the job (resolved by the artifacts subgraph)',
  })
  async artifacts(@Root() job: JobReference, @Ctx() ctx: ArtifactsContext): Promise<ArtifactType[]> {
    return (await this.service.jobArtifacts(ctx.identity, job.id)).map(ArtifactType.from);
  }
}
