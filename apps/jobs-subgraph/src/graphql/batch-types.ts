import { Field, Int, ObjectType } from 'type-graphql';
import { ContractViolation, type GraphError, type JsonObject } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { JSONScalar } from '#libs/subgraph';
import type { BatchItemOutcome } from '../service/batch-submit.js';
import { GraphErrorType, JobType } from './types.js';

@ObjectType('SubmitJobError', {
  description: 'why one input of submitJobs was refused; nothing of that input was written',
})
export class SubmitJobErrorType {
  @Field(() => String, {
    description:
      'what submitJob would answer in extensions.code for this input: BAD_USER_INPUT, INVALID_GRAPH, QUOTA_EXCEEDED',
  })
  code!: string;
  @Field(() => String)
  message!: string;
  @Field(() => [GraphErrorType], {
    nullable: true,
    description: 'INVALID_GRAPH: every problem the planner found (submitJob: extensions.errors)',
  })
  graphErrors?: GraphErrorType[];
  @Field(() => JSONScalar, {
    nullable: true,
    description: "the rest of submitJob's extensions, e.g. QUOTA_EXCEEDED's limit, max, used, requested",
  })
  details?: JsonObject;

  static from(e: DomainError | ContractViolation): SubmitJobErrorType {
    if (e instanceof ContractViolation)
      return Object.assign(new SubmitJobErrorType(), { code: 'BAD_USER_INPUT', message: e.message });
    const { errors, ...details } = e.extensions as { errors?: GraphError[] } & JsonObject;
    return Object.assign(new SubmitJobErrorType(), {
      code: e.code,
      message: e.message,
      graphErrors: Array.isArray(errors) ? errors.map(GraphErrorType.from) : undefined,
      details: Object.keys(details).length > 0 ? details : undefined,
    });
  }
}

@ObjectType('SubmitJobResult', {
  description: 'the outcome of one input of submitJobs: its job, or the error that refused it',
})
export class SubmitJobResultType {
  @Field(() => Int, { description: "the input's position in `inputs`, from 0" })
  index!: number;
  @Field(() => JobType, {
    nullable: true,
    description: 'the job, when the input was accepted (for a known idempotency key: its existing job)',
  })
  job?: JobType;
  @Field(() => SubmitJobErrorType, { nullable: true, description: 'set when the input was refused' })
  error?: SubmitJobErrorType;

  /**
   * A typed refusal becomes the item's `error`; anything else (Redis unreachable, a bug) is not the input's
   * fault: it is thrown, so that GraphQL answers this item null with an error at ["submitJobs", index],
   * classified (UNAVAILABLE, INTERNAL_SERVER_ERROR) and logged as every other failure.
   */
  static from(outcome: BatchItemOutcome, index: number): SubmitJobResultType {
    if (outcome.ok)
      return Object.assign(new SubmitJobResultType(), { index, job: JobType.from(outcome.view) });
    const e = outcome.error;
    if (e instanceof DomainError || e instanceof ContractViolation)
      return Object.assign(new SubmitJobResultType(), { index, error: SubmitJobErrorType.from(e) });
    throw e;
  }
}
