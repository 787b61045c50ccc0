import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types.js';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { parse, print } from 'graphql';
import { IDENTITY_HEADER, withoutRouterOnlyDirectives, type IdentitySigner } from '#libs/auth';
import type { CallerIdentity } from '../subscriptions/upstream-pool.js';

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
  constructor(
    url: string,
    private readonly signer: IdentitySigner,
  ) {
    super({ url });
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
    const response = await super.process(options);
    const sdl = (response.data as { _service?: { sdl?: unknown } } | undefined)?._service?.sdl;
    if (options.kind !== GraphQLDataSourceRequestKind.LOADING_SCHEMA || typeof sdl !== 'string')
      return response;
    return { ...response, data: { _service: { sdl: print(withoutRouterOnlyDirectives(parse(sdl))) } } };
  }
}

/** Who the gateway is when it calls a subgraph for itself; it can read no tenant's data (no scopes). */
export const GATEWAY_IDENTITY = { tenant: 'switchyard-gateway', keyId: 'gateway', scopes: [] };
