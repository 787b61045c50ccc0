import type { Identity, Scope } from '#libs/contracts';
import type { JobsService } from '../service/jobs-service.js';
import { hasScope } from '#libs/auth';
import { forbidden } from '#libs/errors';

/** What every resolver gets: the identity the gateway signed, already verified. */
export interface JobsContext {
  identity: Identity;
  /** For subscription `subscribe` functions, which type-graphql calls without a resolver instance. */
  service: JobsService;
  /**
   * Charges an operation that submits `jobs` jobs to the caller's rate limit as that many requests (an API
   * key calling the subgraph directly; other callers were charged where they came in). Throws the typed
   * error (RATE_LIMITED, BAD_USER_INPUT past the key's burst, UNAVAILABLE); nothing ran yet.
   */
  chargeJobs?: (jobs: number) => Promise<void>;
}

/** Throws FORBIDDEN unless the caller holds `scope` (admin holds every scope). */
export function requireScope(ctx: JobsContext, scope: Scope): string {
  if (!hasScope(ctx.identity, scope)) throw forbidden(scope);
  return ctx.identity.tenant;
}
