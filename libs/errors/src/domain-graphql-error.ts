import { GraphQLError } from 'graphql';
import type { DomainError } from './domain-error.js';

/**
 * A DomainError as a GraphQLError carrying its code, for the places that hand GraphQLError objects on
 * instead of going through formatGraphQLError: a schema run in-process by the gateway (its data source keeps
 * only `extensions`) and errors sent straight down a graphql-ws stream.
 */
export function domainGraphQLError(e: DomainError, opts: { path?: readonly (string | number)[] } = {}) {
  return new GraphQLError(e.message, {
    originalError: e,
    path: opts.path,
    extensions: { ...e.extensions, code: e.code },
  });
}
