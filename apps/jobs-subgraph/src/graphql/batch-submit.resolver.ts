import { Arg, Ctx, Directive, Mutation, Resolver } from 'type-graphql';
import { assumedListSize, cost, requiresScope } from '#libs/auth';
import { MAX_SUBMIT_BATCH } from '../service/batch-submit.js';
import type { JobsService } from '../service/jobs-service.js';
import { SubmitJobResultType } from './batch-types.js';
import { requireScope, type JobsContext } from './context.js';
import { SubmitJobInputType } from './types.js';

/** GraphQL input objects arrive as class instances; the contracts parse plain data. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null)) as unknown;

@Resolver()
export class BatchSubmitResolver {
  constructor(private readonly service: JobsService) {}

  @Directive(requiresScope('jobs:write'))
  @Directive(cost(10))
  @Directive(assumedListSize(MAX_SUBMIT_BATCH))
  @Mutation(() => [SubmitJobResultType], {
    nullable: 'items',
    description: `jobs:write; up to ${MAX_SUBMIT_BATCH} jobs, each validated, quota-checked and idempotent on its own: one result per input, in order`,
  })
  async submitJobs(
    // validated per input by the service (the SubmitJobInput contract has the same bounds as the class
    // validators), so that one bad input is that input's error, not the whole call's
    @Arg('inputs', () => [SubmitJobInputType], { validate: false }) inputs: SubmitJobInputType[],
    @Ctx() ctx: JobsContext,
  ): Promise<Array<SubmitJobResultType | Promise<never>>> {
    // an API key calling this subgraph directly paid a token per job of the whole operation before it ran
    // (admitOperation, #libs/subgraph), as our gateway charges its own callers
    const tenant = requireScope(ctx, 'jobs:write');
    const outcomes = await this.service.submitJobs(
      tenant,
      inputs.map((input) => plain(input)),
    );
    return outcomes.map((outcome, index) => {
      try {
        return SubmitJobResultType.from(outcome, index);
      } catch (e) {
        // GraphQL answers a rejected list item as null plus an error at its path (the list items are nullable)
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }
}
