import { Arg, Ctx, Directive, FieldResolver, Int, Resolver, Root } from 'type-graphql';
import { assumedListSize, connectionListSize, requiresScope } from '#libs/auth';
import { PageInfoType } from '#libs/subgraph';
import { perRequest, TickBatcher } from '#libs/redis';
import { encodeArtifactCursor } from '../reads/artifact-cursor.js';
import { JOB_ARTIFACTS_LIST_SIZE } from '../reads/job-artifacts-bounds.js';
import { artifactListPositionOf } from '#libs/contracts';
import type { JobArtifactsPage, JobArtifactsRequest } from '../reads/job-artifacts-reader.js';
import type { ArtifactService } from '../uploads/artifact-service.js';
import type { ArtifactsContext } from './context.js';
import { ArtifactConnectionType, ArtifactEdgeType, ArtifactType, JobReference } from './types.js';

@Resolver(() => JobReference)
export class JobArtifactsResolver {
  // every Job.artifacts and Job.artifactsPage of one request (a page's _entities batch), whatever their
  // arguments: one read for all of them
  private readonly pagesOf = perRequest(
    (ctx: ArtifactsContext) =>
      new TickBatcher<JobArtifactsRequest, JobArtifactsPage>(
        (requests) => this.service.jobsArtifactPages(ctx.identity, requests),
        'immediate',
      ),
  );

  constructor(private readonly service: ArtifactService) {}

  @Directive(requiresScope('artifacts:read'))
  @Directive(assumedListSize(JOB_ARTIFACTS_LIST_SIZE))
  @FieldResolver(() => [ArtifactType], {
    description: `committed artifacts of the job, in the order they were committed (that of artifactsPage): at most JOB_ARTIFACTS_LIST_MAX of them (${JOB_ARTIFACTS_LIST_SIZE} by default, never more), so a job with more answers only the first committed; artifactsPage reads every one (resolved by the artifacts subgraph)`,
  })
  async artifacts(@Root() job: JobReference, @Ctx() ctx: ArtifactsContext): Promise<ArtifactType[]> {
    const request = this.service.artifactsListRequest(ctx.identity);
    const page = await this.pagesOf(ctx).load({ ...request, jobId: job.id });
    if (page.hasMore) this.service.artifactsListCapped();
    return page.records.map(ArtifactType.from);
  }

  @Directive(requiresScope('artifacts:read'))
  @Directive(connectionListSize(20))
  @FieldResolver(() => ArtifactConnectionType, {
    description:
      "every committed artifact of the job, a page at a time, in the order of `artifacts`: the order they were committed (an attempt's outputs when it completed, not when its worker created them): `first` (default 20, at most JOB_ARTIFACTS_PAGE_MAX, 100 by default) after the cursor `after`. Whatever the job commits after a page was read comes after that page's cursors, so following a running job with `after: endCursor` sees each artifact exactly once; a cursor stays valid when its artifact is deleted. Artifacts committed before commit order was recorded come first, by createdAt",
  })
  async artifactsPage(
    @Root() job: JobReference,
    @Ctx() ctx: ArtifactsContext,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<ArtifactConnectionType> {
    // checked before the batch: a bad argument fails this field alone, and reads nothing
    const request = this.service.artifactsPageRequest(ctx.identity, first ?? undefined, after ?? undefined);
    const page = await this.pagesOf(ctx).load({ ...request, jobId: job.id });
    const edges = page.records.map((r) =>
      Object.assign(new ArtifactEdgeType(), {
        cursor: encodeArtifactCursor(artifactListPositionOf(r)),
        node: ArtifactType.from(r),
      }),
    );
    return Object.assign(new ArtifactConnectionType(), {
      edges,
      pageInfo: Object.assign(new PageInfoType(), {
        hasNextPage: page.hasMore,
        hasPreviousPage: after != null,
        startCursor: edges[0]?.cursor,
        endCursor: edges.at(-1)?.cursor,
      }),
    });
  }
}
