import { z } from 'zod';

/** Thrown when data crossing a process boundary does not match its contract. */
export class ContractViolation extends Error {
  constructor(
    readonly contract: string,
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(`${contract}: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    this.name = 'ContractViolation';
  }
}

/** Parse `data` with `schema`, throwing a ContractViolation that names the contract. */
export function parseContract<S extends z.ZodType>(schema: S, name: string, data: unknown): z.infer<S> {
  const r = schema.safeParse(data);
  if (!r.success) throw new ContractViolation(name, r.error.issues);
  return r.data;
}
