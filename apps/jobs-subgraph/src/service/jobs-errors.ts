import type { GraphError } from '#libs/contracts';
import { DomainError } from '#libs/errors';

/** submitJob with an invalid graph: every problem the planner found, in `extensions.errors`. */
export const invalidGraph = (errors: GraphError[]) =>
  new DomainError('INVALID_GRAPH', `the graph is invalid: ${errors.length} problem(s)`, { errors });
