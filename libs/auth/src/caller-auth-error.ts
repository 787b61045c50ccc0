/** The API error codes a refused caller can get from a subgraph (../shared/api/contract.graphql). */
export type CallerAuthCode = 'UNAUTHENTICATED' | 'RATE_LIMITED' | 'UNAVAILABLE';

/**
 * A request a subgraph refuses before running anything: no or bad credentials, a rate-limited key, or a
 * backing service (Redis, the JWKS endpoint) that cannot vouch for the caller right now. `extensions` go
 * to the client (reason, retryAfterSeconds); libs/errors turns this into the GraphQL error.
 */
export class CallerAuthError extends Error {
  constructor(
    readonly code: CallerAuthCode,
    message: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'CallerAuthError';
  }
}
