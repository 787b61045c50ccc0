import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { GraphQLError } from 'graphql';
import type { Logger } from '#libs/observability';
import type { Authenticator } from '../auth/authenticator.js';
import type { OperationGuard } from '../limits/operation-guard.js';
import type { CallerIdentity } from '../subscriptions/upstream-pool.js';
import { classifyAdminRequest, ENABLED_ADMIN_ACTIONS, isCrossSite, JOB_STATES_FOR } from './admin-actions.js';
import { ADMIN_CHALLENGE, apiKeyFromAdminAuthorization } from './admin-credentials.js';

export type AdminOutcome =
  | 'allowed'
  | 'unauthenticated'
  | 'forbidden'
  | 'rate_limited'
  | 'unavailable'
  | 'action_refused'
  | 'cross_site';

const IDENTITY = Symbol.for('switchyard.gateway.adminIdentity');

const adminIdentityOf = (req: Request): CallerIdentity | undefined =>
  (req as unknown as Record<symbol, CallerIdentity>)[IDENTITY];

/**
 * Who may open the admin UI: an API key with the `admin` scope, as the HTTP Basic password (or a Bearer
 * token). Missing or invalid → 401 with the Basic challenge; without `admin` → 403. Admitted keys spend
 * their rate-limit tokens like any other request (429 + Retry-After).
 */
export function adminAccess(deps: {
  authenticator: Authenticator;
  guard: OperationGuard;
  outcome: (o: AdminOutcome) => void;
}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    void (async () => {
      const key = apiKeyFromAdminAuthorization(req.headers.authorization);
      if (!key) {
        deps.outcome('unauthenticated');
        return challenge(
          res,
          'an admin API key is required: HTTP Basic with any user name and the key as password',
        );
      }
      let identity: CallerIdentity;
      try {
        identity = await deps.authenticator.authenticate(key);
        await deps.guard.admit(identity);
      } catch (e) {
        return refusal(e, res, deps.outcome);
      }
      if (!identity.scopes.includes('admin')) {
        deps.outcome('forbidden');
        return plain(res, 403, 'this API key lacks the admin scope');
      }
      deps.outcome('allowed');
      (req as unknown as Record<symbol, CallerIdentity>)[IDENTITY] = identity;
      next();
    })().catch(next);
  };
}

/**
 * Lets reads through and only the actions of admin-actions.ts; refuses state changes sent by pages of
 * other sites. Every action that passes is logged with the key that asked for it.
 */
export function adminActionGate(deps: {
  /** The BullMQ state of a job, or null when the queue is not one of ours (bull-board answers 404). */
  jobState: (queueName: string, jobId: string) => Promise<string | null>;
  outcome: (o: AdminOutcome) => void;
  logger: Logger;
}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    void (async () => {
      const request = classifyAdminRequest(req.method, req.path);
      if (request.kind === 'read') return next();
      if (isCrossSite(req.headers)) {
        deps.outcome('cross_site');
        return plain(res, 403, 'admin actions are accepted only from the admin UI itself (same origin)');
      }
      if (request.kind === 'refused') {
        deps.outcome('action_refused');
        return disabled(res, `this action is disabled; enabled: ${ENABLED_ADMIN_ACTIONS}`);
      }
      if (request.action === 'retry-job' || request.action === 'clean-job') {
        const state = await deps.jobState(request.queueName, request.jobId);
        if (state !== null && !JOB_STATES_FOR[request.action].includes(state)) {
          deps.outcome('action_refused');
          const verb = request.action === 'retry-job' ? 'retried' : 'cleaned';
          return disabled(
            res,
            `a ${state} job cannot be ${verb} here; only ${JOB_STATES_FOR[request.action].join(' or ')} jobs`,
          );
        }
      }
      const { kind: _kind, ...action } = request;
      const identity = adminIdentityOf(req);
      deps.logger.info({ keyId: identity?.keyId, tenant: identity?.tenant, ...action }, 'admin queue action');
      next();
    })().catch(next);
  };
}

function refusal(e: unknown, res: Response, outcome: (o: AdminOutcome) => void): void {
  const code = e instanceof GraphQLError ? e.extensions?.code : undefined;
  const message = e instanceof Error ? e.message : String(e);
  switch (code) {
    case 'UNAUTHENTICATED':
      outcome('unauthenticated');
      return challenge(res, message);
    case 'RATE_LIMITED': {
      outcome('rate_limited');
      const seconds = e instanceof GraphQLError ? e.extensions.retryAfterSeconds : undefined;
      if (typeof seconds === 'number') res.setHeader('retry-after', String(seconds));
      return plain(res, 429, message);
    }
    default:
      // Redis down (UNAVAILABLE) or anything unexpected: nobody is let in without a verified key.
      outcome('unavailable');
      return plain(
        res,
        503,
        code === 'UNAVAILABLE' ? message : 'cannot verify API keys right now; retry shortly',
      );
  }
}

function challenge(res: Response, message: string): void {
  res.setHeader('www-authenticate', ADMIN_CHALLENGE);
  plain(res, 401, message);
}

function plain(res: Response, status: number, message: string): void {
  res.status(status).type('text/plain; charset=utf-8').send(`${message}\n`);
}

/** In bull-board's error shape (its UI shows the translated key), with our reason alongside. */
function disabled(res: Response, message: string): void {
  res.status(405).json({ error: { key: 'ERRORS.QUEUE_READ_ONLY' }, message });
}
