import { GraphQLError, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import {
  CallerAuthError,
  overBurstMessage,
  rateLimitUnits,
  type SubgraphAuthenticator,
  type VerifiedCaller,
} from '#libs/auth';
import type { ApiErrorCode } from '#libs/contracts';
import { callerAuthGraphQLError, DomainError } from '#libs/errors';
import { measureOperation, tooComplex, type CostDirectives } from '#libs/graphql-cost';
import { countDirectRefusal } from './direct-refusals.js';

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

/** A subgraph's executable schema and the cost directives of its SDL (which the graphql-js schema may not show). */
export interface PricedSchema {
  schema: GraphQLSchema;
  costs: CostDirectives;
}

/** What admitOperation measured of a direct caller's operation. */
export interface AdmittedOperation {
  /** Its cost (within maxCost): what each event of a subscription costs when delivered. */
  cost: number;
}

/**
 * The checks of one parsed, validated operation of a caller that did not come through our gateway (which bounded
 * and charged its own callers), before anything runs, whatever the transport:
 *
 * - within the authenticator's operationLimits, measured as our gateway measures (#libs/graphql-cost
 *   measureOperation with the subgraph SDL's @cost/@listSize: depth, aliases, root fields, cost, selections,
 *   directives; MAX_QUERY_DEPTH, MAX_QUERY_COST… with the gateway's names and defaults): QUERY_TOO_COMPLEX naming
 *   the limit in `extensions.limits`, as the gateway answers;
 * - for an API key, a token of the key's bucket per item the operation writes or plans (rateLimitUnits: each
 *   mutation field and `validateGraph` one, each `submitJobs` one per input, aliases and fragments included), as at our
 *   gateway: the request's own token was taken when it authenticated, this takes the rest, at once. More than the key's burst:
 *   BAD_USER_INPUT (waiting would not help; nothing taken); too few tokens now: RATE_LIMITED with
 *   `retryAfterSeconds`; the limiter unreachable: UNAVAILABLE. Foreign-JWT callers are not rate-limited here.
 *
 * Returns what it measured (null for our gateway's calls: not measured again); throws the GraphQLError to answer,
 * and then nothing of the operation has run.
 */
export async function admitOperation(
  authenticator: SubgraphAuthenticator,
  priced: PricedSchema,
  caller: VerifiedCaller,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | null | undefined,
): Promise<AdmittedOperation | null> {
  if (caller.method === 'gateway') return null;
  const measured = measureOperation(
    priced.schema,
    document,
    operation.name?.value,
    variables,
    authenticator.operationLimits,
    priced.costs,
  );
  // validation ran first: the operation is in its document, and no fragment spreads itself
  if (!measured || measured.cycle !== undefined)
    throw new Error('admitOperation: the operation was not validated against its document');
  if (measured.violation) {
    const { message, extensions } = tooComplex(measured.violation);
    countDirectRefusal(extensions.limits[0].limit);
    throw refused('QUERY_TOO_COMPLEX', message, extensions);
  }
  const units = rateLimitUnits(document, operation, variables);
  let over;
  try {
    over = await authenticator.chargeUnits(caller, units);
  } catch (e) {
    if (e instanceof CallerAuthError) {
      countDirectRefusal(e.code === 'RATE_LIMITED' ? 'rateLimited' : 'unavailable');
      throw callerAuthGraphQLError(e);
    }
    throw e;
  }
  if (over) {
    countDirectRefusal('burst');
    throw refused('BAD_USER_INPUT', overBurstMessage(units, over.burst), {
      max: over.burst,
      requested: units,
    });
  }
  return { cost: measured.report.cost };
}
