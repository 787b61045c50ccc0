import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GraphQLError, GraphQLFormattedError } from 'graphql';

/**
 * Answers a request refused before GraphQL runs (no key, rate limited, body too large) with a GraphQL
 * error body and a real HTTP status, in the media type the client accepts (GraphQL over HTTP).
 */
export function sendGraphQLError(
  req: IncomingMessage,
  res: ServerResponse,
  error: GraphQLError,
  format: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError,
  /** Overrides the status the error carries (413 for a body too large). */
  status?: number,
): void {
  const http = error.extensions?.http as { status?: number; headers?: Map<string, string> } | undefined;
  for (const [name, value] of http?.headers ?? []) res.setHeader(name, value);
  const { http: _http, ...extensions } = error.extensions ?? {};
  const formatted = format({ message: error.message, extensions }, error);
  const accept = req.headers.accept ?? '';
  const type = accept.includes('application/graphql-response+json')
    ? 'application/graphql-response+json'
    : 'application/json';
  // node's own response API (express's res.send wrote the same status, type and body; Content-Length is node's)
  res.statusCode = status ?? http?.status ?? 400;
  res.setHeader('content-type', `${type}; charset=utf-8`);
  res.end(JSON.stringify({ errors: [formatted] }));
}
