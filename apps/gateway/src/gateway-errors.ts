import type { GraphQLFormattedError } from 'graphql';
import { GraphQLError } from 'graphql';
import { CallerAuthError } from '#libs/auth';
import type { ApiErrorCode } from '#libs/contracts';
import { DomainError, formatGraphQLError, type FormatOptions } from '#libs/errors';

/** HTTP status of a request refused before execution (GraphQL over HTTP: application/graphql-response+json). */
const HTTP_STATUS: Partial<Record<ApiErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  QUERY_TOO_COMPLEX: 400,
  BAD_USER_INPUT: 400,
  UNAVAILABLE: 503,
};

/**
 * A refusal by the gateway itself, as the GraphQL error the client sees. The DomainError inside carries
 * the contract code and extensions through formatGraphQLError (which keeps them in production too);
 * `http` tells Apollo Server the status and headers (it strips `http` before answering).
 */
export function gatewayError(
  code: ApiErrorCode,
  message: string,
  extensions: Record<string, unknown> = {},
): GraphQLError {
  const status = HTTP_STATUS[code];
  return new GraphQLError(message, {
    originalError: new DomainError(code, message, extensions),
    extensions: {
      code,
      ...extensions,
      ...(status ? { http: { status, headers: httpHeaders(code, extensions) } } : {}),
    },
  });
}

/** A refusal by a check shared with the subgraphs (#libs/auth: the subscription quota) as the gateway's own. */
export function asGatewayError(e: unknown): unknown {
  return e instanceof CallerAuthError ? gatewayError(e.code, e.message, e.extensions) : e;
}

function httpHeaders(code: ApiErrorCode, extensions: Record<string, unknown>): Map<string, string> {
  const headers = new Map<string, string>();
  if (code === 'RATE_LIMITED' && typeof extensions.retryAfterSeconds === 'number')
    headers.set('retry-after', String(extensions.retryAfterSeconds));
  if (code === 'UNAUTHENTICATED') headers.set('www-authenticate', 'Bearer');
  return headers;
}

const APOLLO_REQUEST_ERRORS = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * formatGraphQLError plus two gateway rules: Apollo's request errors carry the contract's BAD_USER_INPUT,
 * and an error passed on from a subgraph keeps its contract
 * extensions (INVALID_GRAPH's `errors`, NOT_FOUND...) but never says which internal service produced it.
 */
export function formatGatewayError(
  formatted: GraphQLFormattedError,
  error: unknown,
  opts: FormatOptions,
): GraphQLFormattedError {
  const ext = formatted.extensions ?? {};
  // Apollo's request errors become the contract's BAD_USER_INPUT (its own code kept as `reason`), the
  // same answer DocumentGuard gives on graphql-ws.
  if (typeof ext.code === 'string' && APOLLO_REQUEST_ERRORS.has(ext.code))
    return {
      message: formatted.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: 'BAD_USER_INPUT', reason: ext.code },
    };
  // Apollo's own 400s that carry no code (an APQ registration whose sha256Hash does not match its query, an
  // unknown persistedQuery version) are the client's mistake: without this they were INTERNAL_SERVER_ERROR
  // ("internal error" in production) and an error log line, for anyone to produce at will.
  if (isCodelessBadRequest(error))
    return {
      message: formatted.message,
      locations: formatted.locations,
      extensions: { code: 'BAD_USER_INPUT', reason: 'BAD_REQUEST' },
    };
  if (typeof ext.code === 'string' && ext.code !== 'INTERNAL_SERVER_ERROR' && 'serviceName' in ext) {
    const { serviceName, stacktrace: _s, exception: _e, http: _h, ...rest } = ext;
    return {
      message: formatted.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: opts.production ? rest : { ...rest, serviceName },
    };
  }
  return formatGraphQLError(formatted, error, opts);
}

/** A request-level GraphQLError (no path: not a resolver's) that Apollo answers 400 without giving it a code. */
function isCodelessBadRequest(error: unknown): boolean {
  if (!(error instanceof GraphQLError) || error.path !== undefined || error.originalError) return false;
  const ext = error.extensions;
  return ext.code === undefined && (ext.http as { status?: unknown } | undefined)?.status === 400;
}
