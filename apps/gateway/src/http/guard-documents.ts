import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import type { Step, StepRequest } from '#libs/graphql-http';
import type { CostDirectives } from '#libs/graphql-cost';
import { DocumentRefused, type DocumentGuard } from '../limits/document-guard.js';
import { sendGraphQLError } from './graphql-error-response.js';

/**
 * Before Apollo parses anything: the document of a POST body or GET query string passes DocumentGuard
 * (size, tokens, shape, memoised complexity), so a document bomb is refused in a few ms with
 * QUERY_TOO_COMPLEX / BAD_USER_INPUT. Validation is left to Apollo (it validates every document anyway).
 * Requests without a document text (an automatic persisted query sent by hash) go on: Apollo only runs
 * those it stored, and the guard plugin measures them again with their variables.
 */
export function guardDocuments(deps: {
  guard: DocumentGuard;
  /** The API schema, and the supergraph's cost directives (UNAVAILABLE while no supergraph is loaded). */
  schema: () => { schema: GraphQLSchema; costs: CostDirectives };
  introspection: boolean;
  format: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
}): Step {
  return (req, res, next) => {
    const params = requestParams(req);
    if (!params || params.query === undefined) return next();
    try {
      deps.guard.admit({
        query: params.query,
        operationName: params.operationName,
        variables: params.variables,
        ...deps.schema(),
        validate: false,
        introspection: deps.introspection,
      });
    } catch (e) {
      if (e instanceof DocumentRefused) return sendGraphQLError(req, res, e.errors[0]!, deps.format);
      // The supergraph not loaded yet: UNAVAILABLE (503), as Apollo would answer.
      if (e instanceof GraphQLError) return sendGraphQLError(req, res, e, deps.format);
      return next(e);
    }
    next();
  };
}

/** query/operationName/variables of a JSON body, or of a GET query string (variables as JSON text there). */
function requestParams(
  req: StepRequest & { query?: unknown },
): { query: unknown; operationName: unknown; variables: unknown } | undefined {
  if (req.method === 'POST') {
    const body: unknown = req.body;
    // Batches and other shapes: Apollo answers them (batching is off).
    if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
    const b = body as Record<string, unknown>;
    return { query: b.query, operationName: b.operationName, variables: b.variables };
  }
  if (req.method === 'GET') {
    // express's parsed query string (a GET never takes the lane without express)
    const q = (req.query ?? {}) as Record<string, unknown>;
    if (q.query === undefined) return undefined;
    let variables: unknown;
    if (typeof q.variables === 'string') {
      try {
        variables = JSON.parse(q.variables);
      } catch {
        variables = undefined; // Apollo refuses it with its own message
      }
    }
    return { query: q.query, operationName: q.operationName, variables };
  }
  return undefined;
}
