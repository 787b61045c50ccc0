import {
  Arg,
  Ctx,
  Directive,
  FieldResolver,
  ID,
  Int,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
} from 'type-graphql';
import { assumedListSize, connectionListSize, cost, requiresScope } from '#libs/auth';
import { PageInfoType } from '#libs/subgraph';
import type { JobEvent } from '#libs/contracts';
import { badInput, notFound } from '#libs/errors';
import { readOnceTogether } from '../events/read-together.js';
import type { JobsService } from '../service/jobs-service.js';
import { requireScope, type JobsContext } from './context.js';
import { jobsForCaller } from './job-lookup.js';
import {
  GraphErrorType,
  GraphValidationType,
  JobConnectionType,
  JobEdgeType,
  JobEventType,
  JobFilterInput,
  JobNodeType,
  JobType,
  PipelineTemplateType,
  SubmitJobInputType,
  TaskCapabilityType,
  WorkerType,
} from './types.js';

/** GraphQL input objects arrive as class instances; the contracts parse plain data. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null)) as unknown;

@Resolver(() => JobType)
export class JobsResolver {
  constructor(private readonly service: JobsService) {}

  @Directive(requiresScope('jobs:read'))
  @Query(() => JobType, { nullable: true })
  async job(@Arg('id', () => ID) id: string, @Ctx() ctx: JobsContext): Promise<JobType | null> {
    const [job] = await jobsForCaller(this.service, ctx, [id]);
    return job ?? null;
  }

  /**
   * A job's nodes in the job's order; `first` answers only the first that many. Routers count `first` when given,
   * else every node a job may hold (JOB_NODES_LIST_SIZE): a page of jobs that reads their nodes says how many.
   */
  @FieldResolver(() => [JobNodeType])
  nodes(
    @Root() job: JobType,
    @Arg('first', () => Int, {
      nullable: true,
      description:
        'at most this many nodes: the first that many, in the order of the whole list (default: all)',
    })
    first?: number | null,
  ): JobNodeType[] {
    if (first === undefined || first === null) return job.nodes;
    if (first < 0) throw badInput('first must be 0 or more', { min: 0 });
    return job.nodes.slice(0, first);
  }

  @Directive(requiresScope('jobs:read'))
  @Directive(connectionListSize(20))
  @Query(() => JobConnectionType)
  async jobs(
    @Ctx() ctx: JobsContext,
    @Arg('filter', () => JobFilterInput, { nullable: true }) filter?: JobFilterInput,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<JobConnectionType> {
    const page = await this.service.jobs(
      requireScope(ctx, 'jobs:read'),
      { status: filter?.status ?? undefined, template: filter?.template ?? undefined },
      first ?? undefined,
      after ?? undefined,
    );
    const edges = page.jobs.map((j) =>
      Object.assign(new JobEdgeType(), { cursor: j.cursor, node: JobType.from(j.view) }),
    );
    return Object.assign(new JobConnectionType(), {
      edges,
      pageInfo: Object.assign(new PageInfoType(), {
        hasNextPage: page.hasNextPage,
        hasPreviousPage: Boolean(after),
        startCursor: edges[0]?.cursor,
        endCursor: edges.at(-1)?.cursor,
      }),
    });
  }

  @Directive(requiresScope('jobs:read'))
  @Directive(assumedListSize(100))
  @Query(() => [TaskCapabilityType])
  async capabilities(@Ctx() ctx: JobsContext): Promise<TaskCapabilityType[]> {
    requireScope(ctx, 'jobs:read');
    return (await this.service.capabilities()).map(TaskCapabilityType.from);
  }

  @Directive(requiresScope('jobs:read'))
  @Directive(assumedListSize(100))
  @Query(() => [PipelineTemplateType])
  templates(@Ctx() ctx: JobsContext): PipelineTemplateType[] {
    requireScope(ctx, 'jobs:read');
    return this.service.templates().map(PipelineTemplateType.from);
  }

  @Directive(requiresScope('jobs:read'))
  @Directive(cost(5))
  @Query(() => GraphValidationType)
  async validateGraph(
    @Arg('input', () => SubmitJobInputType) input: SubmitJobInputType,
    @Ctx() ctx: JobsContext,
  ): Promise<GraphValidationType> {
    const tenant = requireScope(ctx, 'jobs:read');
    const result = await this.service.validateGraph(plain(input), tenant);
    return Object.assign(new GraphValidationType(), {
      valid: result.valid,
      errors: result.errors.map(GraphErrorType.from),
    });
  }

  @Directive(requiresScope('admin'))
  @Directive(assumedListSize(100))
  @Query(() => [WorkerType], { description: 'admin scope' })
  async workers(@Ctx() ctx: JobsContext): Promise<WorkerType[]> {
    requireScope(ctx, 'admin');
    return (await this.service.workers()).map(WorkerType.from);
  }

  @Directive(requiresScope('jobs:write'))
  @Directive(cost(10))
  @Mutation(() => JobType, { description: 'jobs:write' })
  async submitJob(
    @Arg('input', () => SubmitJobInputType) input: SubmitJobInputType,
    @Ctx() ctx: JobsContext,
  ): Promise<JobType> {
    return JobType.from(await this.service.submitJob(requireScope(ctx, 'jobs:write'), plain(input)));
  }

  @Directive(requiresScope('jobs:write'))
  @Mutation(() => JobType, { description: 'jobs:write' })
  async cancelJob(@Arg('id', () => ID) id: string, @Ctx() ctx: JobsContext): Promise<JobType> {
    return JobType.from(await this.service.cancelJob(requireScope(ctx, 'jobs:write'), id));
  }

  @Directive(requiresScope('jobs:write'))
  @Mutation(() => JobType, {
    description: 'jobs:write; a FAILED or CANCELLED job runs its unfinished nodes again',
  })
  async retryJob(@Arg('id', () => ID) id: string, @Ctx() ctx: JobsContext): Promise<JobType> {
    return JobType.from(await this.service.retryJob(requireScope(ctx, 'jobs:write'), id));
  }
}

@Resolver(() => JobEventType)
export class JobEventsResolver {
  constructor(private readonly service: JobsService) {}

  @Directive(requiresScope('jobs:read'))
  @Subscription(() => JobEventType, {
    description: 'every event of one job, resumable',
    subscribe: ({ args, context }) =>
      (context as JobsContext).service.jobEvents(
        requireScope(context as JobsContext, 'jobs:read'),
        args.jobId as string,
        args.after as string | undefined,
      ),
  })
  jobEvents(
    @Root() event: JobEvent,
    @Arg('jobId', () => ID) _jobId: string,
    @Arg('after', () => String, { nullable: true }) _after?: string,
  ): JobEventType {
    return JobEventType.from(event);
  }

  @Directive(requiresScope('jobs:read'))
  @Query(() => String, {
    description:
      "where the tenant's jobFeed stands now, as a feedCursor: jobFeed(after:) with it starts with the next event, so a feed resumed before its first event misses nothing",
  })
  jobFeedHead(@Ctx() ctx: JobsContext): Promise<string> {
    return this.service.jobFeedHead(requireScope(ctx, 'jobs:read'));
  }

  @Directive(requiresScope('jobs:read'))
  @Subscription(() => JobEventType, {
    description: "the tenant's job-level events (JOB_*), for live dashboards",
    subscribe: ({ args, context }) =>
      (context as JobsContext).service.jobFeed(
        requireScope(context as JobsContext, 'jobs:read'),
        args.after as string | undefined,
      ),
  })
  jobFeed(
    @Root() event: JobEvent,
    @Arg('after', () => String, {
      nullable: true,
      description:
        "an event's feedCursor: resume right after it (the feed keeps its last 10,000 or so steps)",
    })
    _after?: string,
  ): JobEventType {
    return JobEventType.from(event);
  }

  @FieldResolver(() => JobType, { description: 'the job as of now; may select fields of either subgraph' })
  async job(@Root() event: JobEventType, @Ctx() ctx: JobsContext): Promise<JobType> {
    // events read from the log together share one read of their job (events/read-together.ts)
    const job = await readOnceTogether(
      event,
      event.jobId,
      async () => (await jobsForCaller(this.service, ctx, [event.jobId]))[0],
    );
    if (!job) throw notFound('job', event.jobId);
    return job;
  }
}
