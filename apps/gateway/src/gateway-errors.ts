import { GraphQLError } from 'graphql';
import type { ApiErrorCode } from '#libs/contracts';

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
 * A refusal by the gateway itself, as the GraphQL error the client sees: `extensions.code` from the
 * contract, plus `http.status` for Apollo Server (it strips `http` before answering).
 */
export function gatewayError(code: ApiErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  const status = HTTP_STATUS[code];
  return new GraphQLError(message, {
    extensions: { code, ...extensions, ...(status ? { http: { status, headers: httpHeaders(code, extensions) } } : {}) },
  });
}

function httpHeaders(code: ApiErrorCode, extensions: Record<string, unknown>): Map<string, string> {
  const headers = new Map<string, string>();
  if (code === 'RATE_LIMITED' && typeof extensions.retryAfterSeconds === 'number') headers.set('retry-after', String(extensions.retryAfterSeconds));
  if (code === 'UNAUTHENTICATED') headers.set('www-authenticate', 'Bearer');
  return headers;
}
