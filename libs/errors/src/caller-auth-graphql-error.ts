import { GraphQLError } from 'graphql';
import type { CallerAuthError } from '#libs/auth';
import { DomainError } from './domain-error.js';

const HTTP_STATUS = { UNAUTHENTICATED: 401, RATE_LIMITED: 429, UNAVAILABLE: 503 } as const;

/**
 * A refused subgraph caller as the GraphQL error Apollo answers with (no data): the contract code and
 * extensions survive formatGraphQLError (via the DomainError inside); `http` sets the status, Retry-After
 * and WWW-Authenticate, as the gateway does.
 */
export function callerAuthGraphQLError(e: CallerAuthError): GraphQLError {
  const headers = new Map<string, string>();
  if (e.code === 'UNAUTHENTICATED') headers.set('www-authenticate', 'Bearer');
  if (typeof e.extensions.retryAfterSeconds === 'number')
    headers.set('retry-after', String(e.extensions.retryAfterSeconds));
  return new GraphQLError(e.message, {
    originalError: new DomainError(e.code, e.message, e.extensions),
    extensions: { ...e.extensions, code: e.code, http: { status: HTTP_STATUS[e.code], headers } },
  });
}
