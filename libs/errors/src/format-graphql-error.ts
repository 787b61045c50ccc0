import type { GraphQLFormattedError } from 'graphql';
import { ContractViolation } from '#libs/contracts';
import { IdentityError } from '#libs/auth';
import { DomainError } from './domain-error.js';
import { isVariableCoercionError } from './request-errors.js';
import { isConnectivityError } from './unavailable.js';

function rootCause(error: unknown): unknown {
  let e = error as { originalError?: unknown } | undefined;
  while (e && typeof e === 'object' && e.originalError && e.originalError !== e)
    e = e.originalError as typeof e;
  return e;
}

export interface FormatOptions {
  production: boolean;
  log?: (err: unknown) => void;
  /**
   * Whether an unclassified failure means a backing service is down (UNAVAILABLE: retry later, no host name).
   * The app knows its clients (unavailableWhenDisconnected); default: a connectivity error by type or code.
   */
  unavailable?: (cause: unknown) => boolean;
}

/**
 * The one place domain errors become GraphQL errors (Apollo `formatError`). In production no stack trace,
 * internal message or host name leaves the process.
 */
export function formatGraphQLError(
  formatted: GraphQLFormattedError,
  error: unknown,
  opts: FormatOptions,
): GraphQLFormattedError {
  const cause = rootCause(error);
  const base = { message: formatted.message, locations: formatted.locations, path: formatted.path };
  if (cause instanceof DomainError)
    return { ...base, message: cause.message, extensions: { ...cause.extensions, code: cause.code } };
  if (cause instanceof IdentityError)
    return { ...base, message: cause.message, extensions: { code: 'UNAUTHENTICATED' } };
  if (cause instanceof ContractViolation)
    return { ...base, message: cause.message, extensions: { code: 'BAD_USER_INPUT' } };
  // Request errors (parse, validation, variables) and errors passed on from a subgraph already carry a code;
  // graphql-ws passes variable errors on without one (Apollo gives them theirs over HTTP).
  const code = formatted.extensions?.code ?? (isVariableCoercionError(error) ? 'BAD_USER_INPUT' : undefined);
  if (typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') {
    const { stacktrace: _s, ...ext } = formatted.extensions ?? {};
    return { ...base, extensions: opts.production ? { code } : { ...ext, code } };
  }
  if ((opts.unavailable ?? isConnectivityError)(cause)) {
    opts.log?.(cause);
    return {
      ...base,
      message: 'a backing service is unavailable; retry shortly',
      extensions: { code: 'UNAVAILABLE' },
    };
  }
  opts.log?.(cause);
  return {
    ...base,
    message: opts.production ? 'internal error' : formatted.message,
    extensions: opts.production
      ? { code: 'INTERNAL_SERVER_ERROR' }
      : { code: 'INTERNAL_SERVER_ERROR', stacktrace: formatted.extensions?.stacktrace },
  };
}
