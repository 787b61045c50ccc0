import type { ApiErrorCode, GraphError } from '#libs/contracts';

/**
 * A failure the client caused or may see, with its contract code. The GraphQL layer maps these (and nothing
 * else) to `extensions.code`; any other error is an internal one.
 */
export class JobsError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'JobsError';
  }
}

export const notFound = (what: string, id: string) => new JobsError('NOT_FOUND', `${what} ${id} not found`);

export const invalidGraph = (errors: GraphError[]) =>
  new JobsError('INVALID_GRAPH', `the graph is invalid: ${errors.length} problem(s)`, { errors });
