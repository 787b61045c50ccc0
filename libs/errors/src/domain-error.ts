import type { z } from 'zod';
import { ContractViolation, type ApiErrorCode } from '#libs/contracts';

/** An error a client may see: its code becomes `extensions.code`. Anything else is an internal error. */
export class DomainError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what: string, id: string) => new DomainError('NOT_FOUND', `${what} ${id} not found`);
export const badInput = (message: string, extensions: Record<string, unknown> = {}) =>
  new DomainError('BAD_USER_INPUT', message, extensions);
export const forbidden = (scope: string) => new DomainError('FORBIDDEN', `missing scope ${scope}`, { scope });
export const unauthenticated = (message: string) => new DomainError('UNAUTHENTICATED', message);
export const unavailable = (message: string) => new DomainError('UNAVAILABLE', message);

/**
 * `data` from a client parsed with its contract schema: a mismatch is the client's mistake (BAD_USER_INPUT
 * naming each problem), not a broken process boundary.
 */
export function parseUserInput<S extends z.ZodType>(schema: S, name: string, data: unknown): z.infer<S> {
  const r = schema.safeParse(data);
  if (!r.success) throw badInput(new ContractViolation(name, r.error.issues).message);
  return r.data;
}
