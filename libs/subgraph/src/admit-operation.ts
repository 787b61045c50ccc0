import { GraphQLError, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import {
  CallerAuthError,
  overBurstMessage,
  rateLimitUnits,
  type SubgraphAuthenticator,
  type VerifiedCaller,
} from '#libs/auth';
import type { ApiErrorCode } from '#libs/contracts';
import { callerAuthGraphQLError, DomainError } from '#libs/errors';
import { operationShape } from './operation-shape.js';

/** A refusal before anything ran, as Apollo answers it (HTTP 400); the DomainError inside keeps code and extensions. */
export function refused(
  code: ApiErrorCode,
  message: string,
  extensions: Record<string, unknown>,
): GraphQLError {
  return new GraphQLError(message, {
    originalError: new DomainError(code, message, extensions),
    extensions: { ...extensions, code, http: { status: 400 } },
  });
}

/**
 * The checks of one parsed, validated operation of a caller that did not come through our gateway (which bounded
 * and charged its own callers), before anything runs, whatever the transport:
 *
 * - its shape within the authenticator's operationLimits (MAX_ROOT_FIELDS, MAX_QUERY_ALIASES, as at our gateway):
 *   QUERY_TOO_COMPLEX naming the limit;
 * - for an API key, a token of the key's bucket per item the operation writes or plans (rateLimitUnits: each
 *   `submitJob`, `createUpload` and `validateGraph` one, each `submitJobs` one per input, aliases and fragments included), as at our
 *   gateway: the request's own token was taken when it authenticated, this takes the rest, at once. More than the key's burst:
 *   BAD_USER_INPUT (waiting would not help; nothing taken); too few tokens now: RATE_LIMITED with
 *   `retryAfterSeconds`; the limiter unreachable: UNAVAILABLE. Foreign-JWT callers are not rate-limited here.
 *
 * Throws the GraphQLError to answer; nothing of the operation has run.
 */
export async function admitOperation(
  authenticator: SubgraphAuthenticator,
  caller: VerifiedCaller,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | null | undefined,
): Promise<void> {
  if (caller.method === 'gateway') return;
  const shape = operationShape(document, operation);
  const { maxAliases, maxRootFields } = authenticator.operationLimits;
  const bounds = [
    ['aliases', shape.aliases, maxAliases],
    ['rootFields', shape.rootFields, maxRootFields],
  ] as const;
  for (const [limit, actual, max] of bounds)
    if (actual > max)
      throw refused('QUERY_TOO_COMPLEX', `operation too complex: ${limit} ${actual} > ${max}`, {
        limits: [{ limit, actual, max }],
      });
  const units = rateLimitUnits(document, operation, variables);
  let over;
  try {
    over = await authenticator.chargeUnits(caller, units);
  } catch (e) {
    if (e instanceof CallerAuthError) throw callerAuthGraphQLError(e);
    throw e;
  }
  if (over)
    throw refused('BAD_USER_INPUT', overBurstMessage(units, over.burst), {
      max: over.burst,
      requested: units,
    });
}
