import { GraphQLError, Kind } from 'graphql';

/**
 * Whether graphql-js refused the request's variables before anything ran: one missing or null for a non-null
 * type, or a value its type does not accept. Apollo Server answers these BAD_USER_INPUT over HTTP by this same
 * test (its requestPipeline's isBadUserInputGraphQLError, not exported); graphql-ws hands them on without a
 * code, so formatGraphQLError classifies them for every transport with this one function.
 */
export function isVariableCoercionError(error: unknown): error is GraphQLError {
  if (!(error instanceof GraphQLError) || error.nodes?.length !== 1) return false;
  const node = error.nodes[0]!;
  if (node.kind !== Kind.VARIABLE_DEFINITION) return false;
  const variable = `Variable "$${node.variable.name.value}" `;
  return ['has invalid value', 'got invalid value ', 'of required type ', 'of non-null type '].some((rest) =>
    error.message.startsWith(variable + rest),
  );
}
