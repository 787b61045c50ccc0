// GraphQL over HTTP for queries and mutations. Every failure becomes an ApiError with the contract's
// `extensions.code` (or HTTP_<status> / NETWORK when the server said nothing typed), never swallowed.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

interface GraphqlBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

const printed = new WeakMap<object, string>();
export function source(doc: TypedDocumentNode<any, any>): string {
  let s = printed.get(doc);
  if (!s) printed.set(doc, (s = print(doc)));
  return s;
}

export const graphqlUrl = (): string => new URL('/graphql', location.href).toString();

export async function request<R, V>(key: string, doc: TypedDocumentNode<R, V>, variables?: V): Promise<R> {
  let res: Response;
  try {
    res = await fetch(graphqlUrl(), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        authorization: `Bearer ${key}`,
      },
      body: JSON.stringify({ query: source(doc), variables }),
    });
  } catch (e) {
    throw new ApiError('NETWORK', `the gateway could not be reached: ${(e as Error).message}`);
  }
  let body: GraphqlBody<R>;
  try {
    body = (await res.json()) as GraphqlBody<R>;
  } catch {
    throw new ApiError(`HTTP_${res.status}`, `${res.status} ${res.statusText} (not a GraphQL response)`);
  }
  const first = body.errors?.[0];
  if (first) {
    const code = typeof first.extensions?.code === 'string' ? first.extensions.code : `HTTP_${res.status}`;
    throw new ApiError(code, first.message, first.extensions);
  }
  if (!body.data) throw new ApiError(`HTTP_${res.status}`, 'the response carried no data');
  return body.data;
}

export const errorOf = (e: unknown): ApiError =>
  e instanceof ApiError ? e : new ApiError('CLIENT_ERROR', e instanceof Error ? e.message : String(e));
