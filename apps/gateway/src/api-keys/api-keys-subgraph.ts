import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, type GraphQLSchema } from 'graphql';
import { z } from 'zod';
import { CreateApiKeyInput, hasScope, type ApiKeyStore } from '#libs/auth';
import { badInput, DomainError, domainGraphQLError, unauthenticated } from '#libs/errors';
import type { CallerIdentity } from '../subscriptions/upstream-pool.js';

/**
 * The gateway's own subgraph: API key management. It is composed into the supergraph like the others
 * and executed in-process (LocalGraphQLDataSource), so createApiKey goes through the same auth, limits
 * and query planning as every other field.
 */
export const API_KEYS_SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@shareable"])

"A newly created API key. \`key\` is shown once and never stored."
type ApiKeySecret {
  id: ID!
  tenant: String!
  scopes: [String!]!
  key: String!
}

input CreateApiKeyInput {
  tenant: String!
  scopes: [String!]!
  name: String
}

type Mutation {
  "admin: create a key for a tenant; the key is returned once."
  createApiKey(input: CreateApiKeyInput!): ApiKeySecret!
  "admin: revoke a key; it stops working on the next request."
  revokeApiKey(id: ID!): Boolean!
}
`;

export interface ApiKeysContext {
  identity?: CallerIdentity;
}

/**
 * The gateway runs this schema in-process and forwards only a GraphQLError's `extensions`: the resolvers'
 * DomainErrors become GraphQLErrors carrying their code here, in one place.
 */
const withApiErrors =
  <A extends unknown[], R>(resolve: (...args: A) => Promise<R>) =>
  async (...args: A): Promise<R> => {
    try {
      return await resolve(...args);
    } catch (e) {
      throw e instanceof DomainError ? domainGraphQLError(e) : e;
    }
  };

/**
 * `onRevoked`: this process drops the key from its own cache before answering, so the revoking admin's very
 * next request already sees it revoked (other replicas hear of it over pub/sub).
 */
export function buildApiKeysSchema(
  keys: Pick<ApiKeyStore, 'create' | 'revoke'>,
  onRevoked: (id: string) => void = () => {},
): GraphQLSchema {
  const requireAdmin = (ctx: ApiKeysContext): CallerIdentity => {
    if (!ctx.identity) throw unauthenticated('an API key is required');
    if (!hasScope({ ...ctx.identity, exp: 0 }, 'admin'))
      throw new DomainError('FORBIDDEN', 'managing API keys needs the admin scope', {
        requiredScope: 'admin',
      });
    return ctx.identity;
  };
  return buildSubgraphSchema([
    {
      typeDefs: parse(API_KEYS_SDL),
      resolvers: {
        Mutation: {
          // An admin key administers the installation (like `workers`): it may create keys for any tenant.
          createApiKey: withApiErrors(
            async (_: unknown, { input }: { input: unknown }, ctx: ApiKeysContext) => {
              requireAdmin(ctx);
              const parsed = CreateApiKeyInput.safeParse(input);
              if (!parsed.success)
                throw badInput(`invalid input: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
              const { key, record } = await keys.create(parsed.data);
              return { id: record.id, tenant: record.tenant, scopes: record.scopes, key };
            },
          ),
          revokeApiKey: withApiErrors(async (_: unknown, { id }: { id: string }, ctx: ApiKeysContext) => {
            requireAdmin(ctx);
            if (!(await keys.revoke(id))) throw new DomainError('NOT_FOUND', 'no such API key');
            onRevoked(id);
            return true;
          }),
        },
      } as never,
    },
  ]);
}
