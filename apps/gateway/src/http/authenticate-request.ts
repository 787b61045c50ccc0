import type { IncomingMessage } from 'node:http';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Step } from '#libs/graphql-http';
import type { Authenticator } from '../auth/authenticator.js';
import type { OperationGuard } from '../limits/operation-guard.js';
import type { CallerIdentity } from '../subscriptions/upstream-pool.js';
import { sendGraphQLError } from './graphql-error-response.js';

const IDENTITY = Symbol.for('switchyard.gateway.identity');

export const identityOf = (req: IncomingMessage): CallerIdentity | undefined =>
  (req as unknown as Record<symbol, CallerIdentity>)[IDENTITY];

/**
 * Before Apollo: the API key (401 without a valid one) and the key's rate limit (429 with Retry-After),
 * so refused requests cost neither parsing nor planning.
 */
export function authenticateRequest(
  authenticator: Authenticator,
  guard: OperationGuard,
  format: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError,
): Step {
  return (req, res, next) => {
    void (async () => {
      const identity = await authenticator.authenticate(req.headers.authorization);
      await guard.admit(identity);
      (req as unknown as Record<symbol, CallerIdentity>)[IDENTITY] = identity;
    })().then(
      () => next(),
      (err: unknown) => {
        if (err instanceof GraphQLError) sendGraphQLError(req, res, err, format);
        else next(err);
      },
    );
  };
}
