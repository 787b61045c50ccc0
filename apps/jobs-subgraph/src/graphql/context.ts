import type { Identity, Scope } from '#libs/contracts';
import type { JobsService } from '../service/jobs-service.js';
import { hasScope } from '#libs/auth';
import { forbidden } from '#libs/errors';

/** What every resolver gets: the identity the gateway signed, already verified. */
export interface JobsContext {
  identity: Identity;
  /** For subscription `subscribe` functions, which type-graphql calls without a resolver instance. */
  service: JobsService;
}

/** Throws FORBIDDEN unless the caller holds `scope` (admin holds every scope). */
export function requireScope(ctx: JobsContext, scope: Scope): string {
  if (!hasScope(ctx.identity, scope)) throw forbidden(scope);
  return ctx.identity.tenant;
}
