import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types.js';
import { parseCacheControlHeader } from '@apollo/gateway/dist/datasources/parseCacheControlHeader.js';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { GraphQLError, parse, print } from 'graphql';
import { IDENTITY_HEADER, withoutRouterOnlyDirectives, type IdentitySigner } from '#libs/auth';
import type { CallerIdentity } from '../subscriptions/upstream-pool.js';
import type { SubgraphHttpClient } from './subgraph-http-client.js';

export interface GatewayContext {
  identity?: CallerIdentity;
  requestId?: string;
}

/**
 * Calls one subgraph over HTTP with the caller's identity, signed by the shared IdentitySigner (one token per
 * caller, reused while it has at least half its minute left). Keeps Apollo's default
 * fetcher (make-fetch-happen over agentkeepalive), which pools keep-alive connections per origin, so a
 * request does not pay a TCP handshake per subgraph call: subgraph-data-source.spec.ts checks 20 calls
 * use one connection (Node's global fetch opened two and kept the test process alive).
 */
export class IdentityForwardingDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly target: URL;

  constructor(
    url: string,
    private readonly signer: IdentitySigner,
    private readonly client: SubgraphHttpClient,
  ) {
    super({ url });
    this.target = new URL(url);
  }

  override willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const identity =
      options.kind === GraphQLDataSourceRequestKind.INCOMING_OPERATION
        ? options.context?.identity
        : // The gateway's own calls (SDL for the dev-only IntrospectAndCompose, health checks): no tenant, no scope.
          GATEWAY_IDENTITY;
    if (identity) options.request.http?.headers.set(IDENTITY_HEADER, this.signer.token(identity));
  }

  /**
   * The dev-only IntrospectAndCompose reads `_service { sdl }`, which carries directives @apollo/gateway refuses
   * (@authenticated, @requiresScopes): hand it the SDL without them, as `npm run compose` composes it.
   */
  override async process(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
  ): ReturnType<RemoteGraphQLDataSource<GatewayContext>['process']> {
    if (options.kind === GraphQLDataSourceRequestKind.INCOMING_OPERATION) return this.operation(options);
    const response = await super.process(options);
    const sdl = (response.data as { _service?: { sdl?: unknown } } | undefined)?._service?.sdl;
    if (options.kind !== GraphQLDataSourceRequestKind.LOADING_SCHEMA || typeof sdl !== 'string')
      return response;
    return { ...response, data: { _service: { sdl: print(withoutRouterOnlyDirectives(parse(sdl))) } } };
  }

  /**
   * One operation, as RemoteGraphQLDataSource would send it (POST JSON of query, variables, operationName,
   * extensions; a non-2xx answer is an error with the status; the subgraph's Cache-Control restricts the
   * response's), without its per-call Request/Headers objects and fetcher.
   */
  private async operation(
    options: GraphQLDataSourceProcessOptions<GatewayContext> & {
      kind: GraphQLDataSourceRequestKind.INCOMING_OPERATION;
    },
  ): Promise<GatewayGraphQLResponse> {
    const { request } = options;
    if (!request.query) throw new Error('Missing query');
    const identity = options.context?.identity;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (request.http?.headers) for (const [name, value] of request.http.headers) headers[name] = value;
    if (identity) headers[IDENTITY_HEADER] = this.signer.token(identity);
    const { http: _http, ...body } = request;
    const res = await this.client.post(this.target, headers, JSON.stringify(body));
    const contentType = String(res.headers['content-type'] ?? '');
    const json = /^application\/(graphql-response\+)?json/.test(contentType);
    const parsed: unknown = json ? JSON.parse(res.text) : res.text;
    if (res.status < 200 || res.status > 299)
      throw new GraphQLError(`${res.status}: ${res.statusText}`, {
        extensions: {
          response: { url: this.target.href, status: res.status, statusText: res.statusText, body: parsed },
          ...(res.status === 401
            ? { code: 'UNAUTHENTICATED' }
            : res.status === 403
              ? { code: 'FORBIDDEN' }
              : {}),
        },
      });
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new Error(`Expected JSON response body, but received: ${res.text.slice(0, 200)}`);
    const policy = options.incomingRequestContext.overallCachePolicy;
    if (this.honorSubgraphCacheControlHeader && policy && 'restrict' in policy) {
      const cc = parseCacheControlHeader(res.headers['cache-control']);
      const maxAge = cc['max-age'];
      policy.restrict({
        maxAge: typeof maxAge === 'string' && /^[0-9]+$/.test(maxAge) ? Number(maxAge) : 0,
        ...(cc.private === true ? { scope: 'PRIVATE' as const } : {}),
        ...(cc.public === true ? { scope: 'PUBLIC' as const } : {}),
      });
    }
    return parsed as GatewayGraphQLResponse;
  }
}

/** Who the gateway is when it calls a subgraph for itself; it can read no tenant's data (no scopes). */
export const GATEWAY_IDENTITY = { tenant: 'switchyard-gateway', keyId: 'gateway', scopes: [] };
