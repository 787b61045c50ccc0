import { z } from 'zod';
import { ConfigError, positiveInt, url } from '#libs/config';
import { MAX_SUBMIT_BATCH } from '#libs/contracts';

export const ACCEPT_METHODS = ['gateway', 'api-key', 'jwt'] as const;
export type AcceptMethod = (typeof ACCEPT_METHODS)[number];

/**
 * How the subgraphs authenticate their callers, per deployment (docs/federation.md). Spread into each
 * subgraph's env shape. RATE_LIMIT_* are the gateway's names and defaults: an API key presented to a
 * subgraph draws on the same Redis bucket as at the gateway.
 */
export const subgraphAuthEnv = {
  SUBGRAPH_ACCEPT: z
    .string()
    .transform((v, ctx) => {
      const list = [
        ...new Set(
          v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ),
      ];
      const bad = list.filter((m) => !(ACCEPT_METHODS as readonly string[]).includes(m));
      if (bad.length || list.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a comma list of ${ACCEPT_METHODS.join(', ')}${bad.length ? ` (not: ${bad.join(', ')})` : ''}`,
        });
        return z.NEVER;
      }
      return list as AcceptMethod[];
    })
    .default(['gateway']),
  SUBGRAPH_JWKS_URL: url(['http', 'https'], 'https://idp.example.com/.well-known/jwks.json').optional(),
  SUBGRAPH_JWT_ISSUER: z.string().min(1).optional(),
  SUBGRAPH_JWT_AUDIENCE: z.string().min(1).optional(),
  SUBGRAPH_JWT_TENANT_CLAIM: z.string().min(1).default('tenant'),
  SUBGRAPH_JWT_SCOPES_CLAIM: z.string().min(1).default('scope'),
  RATE_LIMIT_PER_MINUTE: positiveInt(600),
  RATE_LIMIT_BURST: z.coerce.number().int().positive('expected a positive integer').optional(),
};

export interface SubgraphAuthEnvValues {
  SUBGRAPH_ACCEPT: AcceptMethod[];
  SUBGRAPH_JWKS_URL?: string;
  SUBGRAPH_JWT_ISSUER?: string;
  SUBGRAPH_JWT_AUDIENCE?: string;
  SUBGRAPH_JWT_TENANT_CLAIM: string;
  SUBGRAPH_JWT_SCOPES_CLAIM: string;
  RATE_LIMIT_PER_MINUTE: number;
  RATE_LIMIT_BURST?: number;
}

export interface SubgraphAuthSettings {
  accept: AcceptMethod[];
  jwt?: {
    jwksUrl: string;
    issuer?: string;
    audience?: string;
    tenantClaim: string;
    scopesClaim: string;
  };
  rateLimit: { perMinute: number; burst: number };
}

/**
 * Cross-field checks (a config error at start, never a surprise at the first request). In production a JWT
 * must name our issuer and audience: without them any token the provider ever minted would do.
 */
export function subgraphAuthSettings(c: SubgraphAuthEnvValues, production: boolean): SubgraphAuthSettings {
  const problems: Array<{ variable: string; expected: string }> = [];
  const jwt = c.SUBGRAPH_ACCEPT.includes('jwt');
  if (jwt && !c.SUBGRAPH_JWKS_URL)
    problems.push({
      variable: 'SUBGRAPH_JWKS_URL',
      expected: 'the identity provider JWKS URL: required when SUBGRAPH_ACCEPT includes jwt',
    });
  if (jwt && production)
    for (const v of ['SUBGRAPH_JWT_ISSUER', 'SUBGRAPH_JWT_AUDIENCE'] as const)
      if (!c[v])
        problems.push({
          variable: v,
          expected: 'required in production mode when SUBGRAPH_ACCEPT includes jwt',
        });
  if (!jwt)
    for (const v of ['SUBGRAPH_JWKS_URL', 'SUBGRAPH_JWT_ISSUER', 'SUBGRAPH_JWT_AUDIENCE'] as const)
      if (c[v])
        problems.push({
          variable: v,
          expected: 'unset unless SUBGRAPH_ACCEPT includes jwt (it would be ignored)',
        });
  if (problems.length) throw new ConfigError(problems);
  return {
    accept: c.SUBGRAPH_ACCEPT,
    jwt: jwt
      ? {
          jwksUrl: c.SUBGRAPH_JWKS_URL!,
          issuer: c.SUBGRAPH_JWT_ISSUER,
          audience: c.SUBGRAPH_JWT_AUDIENCE,
          tenantClaim: c.SUBGRAPH_JWT_TENANT_CLAIM,
          scopesClaim: c.SUBGRAPH_JWT_SCOPES_CLAIM,
        }
      : undefined,
    rateLimit: {
      perMinute: c.RATE_LIMIT_PER_MINUTE,
      // the gateway's default burst: 10 % of a minute's allowance, at least 20
      burst: c.RATE_LIMIT_BURST ?? Math.max(MAX_SUBMIT_BATCH, Math.ceil(c.RATE_LIMIT_PER_MINUTE / 10)),
    },
  };
}
