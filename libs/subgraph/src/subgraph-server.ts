import { ApolloServer, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type RequestHandler } from 'express';
import {
  GraphQLError,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import {
  CallerAuthError,
  credentialsFromHttp,
  SubgraphAuthenticator,
  type CallerCredentials,
  type VerifiedCaller,
} from '#libs/auth';
import { ArgumentValidationError } from 'type-graphql';
import { badInput, callerAuthGraphQLError, formatGraphQLError, isVariableCoercionError } from '#libs/errors';
import type { CostDirectives } from '#libs/graphql-cost';
import {
  apolloHttp,
  boundedBodyParser,
  jsonBody,
  type ErrorStep,
  type Step,
  type StepRequest,
} from '#libs/graphql-http';
import { admitOperation, refused, type AdmittedOperation } from './admit-operation.js';
import { subgraphCosts } from './federated-schema.js';

export interface SubgraphServerOptions<C extends BaseContext> {
  schema: GraphQLSchema;
  /**
   * The @cost/@listSize a direct caller's operation is priced with (admitOperation); default: read from the
   * schema's own SDL (subgraphCosts), as a foreign router composing it reads them.
   */
  costs?: CostDirectives;
  /** Who may call (SUBGRAPH_ACCEPT); default: only our gateway's identity signed with `identitySecret`. */
  authenticator?: SubgraphAuthenticator;
  identitySecret?: string;
  production: boolean;
  /** Internal errors (hidden from clients in production) go here. */
  log?: (err: unknown) => void;
  /** Whether a failure means a backing service is down (UNAVAILABLE); default: a connectivity error. */
  unavailable?: (cause: unknown) => boolean;
  /** The subgraph's one mapping of its lower-level errors to DomainErrors (api-errors.ts); default: none. */
  toApiError?: (error: unknown) => unknown;
  plugins?: ApolloServerPlugin<C>[];
  /** The resolvers' context for a verified caller. */
  context: (caller: VerifiedCaller) => C;
}

export type FormatError = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

export interface SubgraphServer {
  /** Mount on `/graphql` before the Nest app's init (after init: 404). */
  middleware: RequestHandler[];
  /**
   * The same as `middleware` without express (a lean JSON body reader, Apollo over node's request and
   * response), for the plain JSON POSTs of `/graphql` (bootstrapApp's `front`, graphqlLane).
   */
  lane: (Step | ErrorStep)[];
  /** The error mapping of every answer, for another transport (graphql-ws) to apply too. */
  format: FormatError;
  /** The caller checks of every request: a refusal throws the GraphQLError Apollo answers (401/429/503). */
  authenticate(credentials: CallerCredentials): Promise<VerifiedCaller>;
  /** The authenticator itself, for a transport with its own refusal (graphql-ws closes with 4403). */
  authenticator: SubgraphAuthenticator;
  /**
   * The checks every HTTP operation passes before it runs (admitOperation: a direct caller's operation bounds and
   * job tokens), for another transport (graphql-ws) to apply too: throws the GraphQLError to answer; returns the
   * direct caller's measured cost (null for our gateway's calls).
   */
  admit(
    caller: VerifiedCaller,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown> | null | undefined,
  ): Promise<AdmittedOperation | null>;
  /** Stops Apollo. */
  stop(): Promise<void>;
}

function unwrap(error: unknown): unknown {
  // graphql-js's own refusal of the variables is classified as it is (its originalError, if any, is the
  // type's complaint about the value, not an internal error)
  if (isVariableCoercionError(error)) return error;
  // Resolver errors arrive wrapped in a GraphQLError whose originalError is what was thrown.
  const cause = error instanceof GraphQLError && error.originalError ? error.originalError : error;
  return cause instanceof ArgumentValidationError ? fieldErrors(cause) : cause;
}

interface FieldError {
  property: string;
  constraints?: Record<string, string>;
  children?: FieldError[];
}

/** class-validator's findings on an input class as BAD_USER_INPUT naming each field and problem. */
function fieldErrors(e: ArgumentValidationError): unknown {
  const flat = (errors: FieldError[], prefix: string): string[] =>
    errors.flatMap((f) => [
      ...Object.values(f.constraints ?? {}).map((c) => `${prefix}${f.property}: ${c}`),
      ...flat(f.children ?? [], `${prefix}${f.property}.`),
    ]);
  const problems = flat((e.extensions.validationErrors ?? []) as FieldError[], '');
  return badInput(problems.length ? `invalid input: ${problems.join('; ')}` : e.message);
}

/** `Cache-Control: no-store` on every answer, as Apollo's cache-control plugin set it without hints. */
function uncacheableAnswers<C extends BaseContext>(): ApolloServerPlugin<C> {
  return {
    requestDidStart: () =>
      Promise.resolve({
        willSendResponse: ({ response }) => {
          if (!response.http.headers.has('cache-control'))
            response.http.headers.set('cache-control', 'no-store');
          return Promise.resolve();
        },
      }),
  };
}

/** Largest request body (express.json's '1mb'). */
const BODY_LIMIT_BYTES = 1024 * 1024;

/** Where a request's context keeps its verified caller (Apollo copies the context's own properties, symbols too). */
const CALLER = Symbol('verified caller');
type WithCaller = { [CALLER]?: VerifiedCaller };

/**
 * admitOperation on every operation once it is parsed and validated, before it runs: a refusal is answered with
 * no data. The request's caller was verified (and an API key charged one token) when its context was built.
 */
function useOperationAdmission<C extends BaseContext>(admit: SubgraphServer['admit']): ApolloServerPlugin<C> {
  return {
    requestDidStart: () =>
      Promise.resolve({
        didResolveOperation: async ({ contextValue, document, operation, request }) => {
          const caller = (contextValue as WithCaller)[CALLER];
          // every context is built with its caller: one without is a bug, never a pass
          if (!caller) throw new Error('no verified caller in the request context');
          if (!operation) return;
          // Over HTTP graphql-js would run the subscription's field once, as a query: it belongs on graphql-ws.
          if (operation.operation === 'subscription')
            throw refused(
              'BAD_USER_INPUT',
              'subscriptions are served over graphql-ws (graphql-transport-ws)',
              {},
            );
          await admit(caller, document, operation, request.variables);
        },
      }),
  };
}

/**
 * Apollo Server 5 over a federation subgraph schema, as express middleware: every request carries a
 * credential this deployment accepts (without a valid one nothing runs), every operation of a caller that did
 * not come through our gateway passes admitOperation (bounds; an API key pays a token per job it submits), and
 * every error goes through the subgraph's mapping (toApiError) and then formatGraphQLError.
 */
export async function createSubgraphServer<C extends BaseContext>(
  options: SubgraphServerOptions<C>,
): Promise<SubgraphServer> {
  const authenticator =
    options.authenticator ??
    new SubgraphAuthenticator({ accept: ['gateway'], identitySecrets: options.identitySecret ?? '' });
  const authenticate = async (credentials: CallerCredentials): Promise<VerifiedCaller> => {
    try {
      return await authenticator.authenticate(credentials);
    } catch (e) {
      if (e instanceof CallerAuthError) throw callerAuthGraphQLError(e);
      throw e;
    }
  };
  const priced = { schema: options.schema, costs: options.costs ?? subgraphCosts(options.schema) };
  const admit: SubgraphServer['admit'] = (caller, document, operation, variables) =>
    admitOperation(authenticator, priced, caller, document, operation, variables);
  const toApiError = options.toApiError ?? ((e: unknown) => e);
  const format: FormatError = (formatted, error) =>
    formatGraphQLError(formatted, toApiError(unwrap(error)), {
      production: options.production,
      log: options.log,
      unavailable: options.unavailable,
    });
  const server = new ApolloServer<C>({
    schema: options.schema,
    introspection: !options.production,
    formatError: format,
    // The app's shutdown stops Apollo; Apollo's own handler would re-raise SIGTERM and kill the process mid-drain.
    stopOnTerminationSignals: false,
    // Apollo's default cache-control plugin hooks every field of every answer (willResolveField wraps each
    // resolver) to compute cache hints our schemas never give: every answer is uncacheable. Off, with the
    // header it sent kept, so answers stay byte-for-byte the same.
    plugins: [
      ApolloServerPluginCacheControlDisabled(),
      uncacheableAnswers(),
      useOperationAdmission<C>(admit),
      ...(options.plugins ?? []),
    ],
  });
  await server.start();
  const context = async (req: StepRequest): Promise<C> => {
    const caller = await authenticate(credentialsFromHttp(req));
    const contextValue = options.context(caller);
    (contextValue as WithCaller)[CALLER] = caller;
    return contextValue;
  };
  return {
    middleware: [
      // a declared Content-Length over the limit is refused before reading (body-parser reads it all off first)
      boundedBodyParser(
        express.json({ limit: BODY_LIMIT_BYTES }) as unknown as Step,
        BODY_LIMIT_BYTES,
        (req) => Boolean((req as unknown as express.Request).is('application/json')),
      ) as unknown as RequestHandler,
      expressMiddleware(server, { context: ({ req }) => context(req) }),
    ],
    lane: [jsonBody(BODY_LIMIT_BYTES), apolloHttp(server, context)],
    format,
    authenticate,
    authenticator,
    admit,
    stop: () => server.stop(),
  };
}
