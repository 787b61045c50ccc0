import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { DEV_IDENTITY_SECRET, IDENTITY_HEADER, signIdentity } from '#libs/auth';
import type { Scope } from '#libs/contracts';

export const TEST_SECRET = DEV_IDENTITY_SECRET;

export const identityFor = (
  tenant: string,
  scopes: Scope[] = ['jobs:read', 'jobs:write'],
  secret = TEST_SECRET,
) => signIdentity({ tenant, keyId: `key-${tenant}`, scopes }, secret);

export interface GraphqlResponse<T = Record<string, any>> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, any> }>;
}

/** POST /graphql as the gateway would, with a signed identity (or none). */
export async function graphqlRequest<T = Record<string, any>>(
  baseUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  identity: string | null = identityFor('acme'),
): Promise<GraphqlResponse<T>> {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(identity ? { [IDENTITY_HEADER]: identity } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphqlResponse<T>;
}

export function wsClient(baseUrl: string, identity: string | null = identityFor('acme')): Client {
  return createClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: identity ? { identity } : {},
    retryAttempts: 0,
    lazy: true,
  });
}

/** Collects a subscription's results until it completes, errors, or `stopAfter` says so. */
export function collect<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown>,
  stopAfter: (items: T[]) => boolean = () => false,
): { done: Promise<{ items: T[]; errors?: unknown }>; items: T[] } {
  const items: T[] = [];
  const done = new Promise<{ items: T[]; errors?: unknown }>((resolve) => {
    const unsubscribe = client.subscribe<T>(
      { query, variables },
      {
        next: (r) => {
          if (r.errors) {
            unsubscribe();
            resolve({ items, errors: r.errors });
            return;
          }
          items.push(r.data as T);
          if (stopAfter(items)) {
            unsubscribe();
            resolve({ items });
          }
        },
        error: (e) => resolve({ items, errors: e }),
        complete: () => resolve({ items }),
      },
    );
  });
  return { done, items };
}
