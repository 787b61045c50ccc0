import { z } from 'zod';

export const Scope = z.enum(['jobs:read', 'jobs:write', 'artifacts:read', 'artifacts:write', 'admin']);
export type Scope = z.infer<typeof Scope>;
export const ALL_SCOPES: readonly Scope[] = Scope.options;

export const Tenant = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a tenant is lowercase letters, digits and -');

/** Who is calling, as the gateway vouches to the subgraphs (signed, short-lived). */
export const Identity = z.object({
  tenant: Tenant,
  keyId: z.string().min(1),
  scopes: z.array(Scope),
  exp: z.number().int().positive(), // unix seconds
});
export type Identity = z.infer<typeof Identity>;
