import { GraphQLError, parse, getOperationAST } from 'graphql';
import type { Scope } from '#libs/contracts';
import { assertRootFieldScopes } from './auth/root-field-scopes.js';
import { formatGatewayError, gatewayError } from './gateway-errors.js';

const fmt = (e: GraphQLError, production: boolean) => formatGatewayError(e.toJSON(), e, { production });

describe('gateway errors', () => {
  it("answers Apollo's parse and validation failures with the contract's BAD_USER_INPUT", () => {
    for (const code of ['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED']) {
      const e = new GraphQLError('Syntax Error: Expected Name', { extensions: { code } });
      expect(fmt(e, true)).toEqual({
        message: 'Syntax Error: Expected Name',
        extensions: { code: 'BAD_USER_INPUT', reason: code },
      });
    }
  });

  it("answers Apollo's code-less 400s (a persisted query whose hash does not match) with BAD_USER_INPUT, not as an internal failure", () => {
    // what @apollo/server's requestPipeline throws for an APQ registration with a wrong sha256Hash, and for an
    // unknown persistedQuery version: a 400 without a code, which Apollo would report as INTERNAL_SERVER_ERROR
    for (const message of ['provided sha does not match query', 'Unsupported persisted query version']) {
      const e = new GraphQLError(message, { extensions: { http: { status: 400, headers: new Map() } } });
      const logged: unknown[] = [];
      const log = (cause: unknown) => void logged.push(cause);
      for (const production of [true, false]) {
        const out = formatGatewayError(
          { message, extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x'] } },
          e,
          { production, log },
        );
        expect(out).toEqual({ message, extensions: { code: 'BAD_USER_INPUT', reason: 'BAD_REQUEST' } });
      }
      expect(logged).toEqual([]);
    }
    // a resolver's failure with an http status is still what it was
    const thrown = new GraphQLError('boom', { path: ['job'], extensions: { http: { status: 400 } } });
    expect(
      formatGatewayError(
        { message: 'boom', path: ['job'], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
        thrown,
        {
          production: true,
        },
      ).extensions,
    ).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
  });

  it('keeps contract extensions of its own refusals in production, with the HTTP status for Apollo', () => {
    const e = gatewayError('RATE_LIMITED', 'slow down', { retryAfterSeconds: 3 });
    expect(e.extensions.http).toMatchObject({ status: 429 });
    expect((e.extensions.http as { headers: Map<string, string> }).headers.get('retry-after')).toBe('3');
    expect(fmt(e, true).extensions).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: 3 });
  });

  it("passes a subgraph's contract extensions on but never which internal service answered, in production", () => {
    const e = new GraphQLError('invalid graph', {
      extensions: {
        code: 'INVALID_GRAPH',
        errors: [{ code: 'CYCLE' }],
        serviceName: 'jobs',
        stacktrace: ['at x (/srv/app.js)'],
      },
    });
    expect(fmt(e, true)).toEqual({
      message: 'invalid graph',
      extensions: { code: 'INVALID_GRAPH', errors: [{ code: 'CYCLE' }] },
    });
    expect(fmt(e, false).extensions).toMatchObject({ serviceName: 'jobs' });
  });

  it('hides internal failures and hosts in production', () => {
    const e = new GraphQLError(
      'request to http://10.1.2.3:4001/graphql failed, reason: connect ECONNREFUSED 10.1.2.3:4001',
      {
        // make-fetch-happen's FetchError copies the socket error's fields (code) onto itself
        originalError: Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:4001'), {
          code: 'ECONNREFUSED',
        }),
      },
    );
    const out = fmt(e, true);
    expect(out.extensions?.code).toBe('UNAVAILABLE');
    expect(JSON.stringify(out)).not.toMatch(/10\.1\.2\.3|stacktrace/);
  });
});

describe('root field scopes', () => {
  const identity = { tenant: 'acme', keyId: 'k', scopes: ['jobs:read' as const] };
  const check = (query: string, scopes: Scope[] = identity.scopes) => {
    const doc = parse(query);
    return () => assertRootFieldScopes({ ...identity, scopes }, doc, getOperationAST(doc)!);
  };
  it('lets a scope through and refuses a missing one, also inside fragments', () => {
    expect(check('{ jobs { edges { cursor } } }')).not.toThrow();
    expect(check('mutation { submitJob(input: {}) { id } }')).toThrow(/jobs:write/);
    expect(check('{ ...F } fragment F on Query { workers { id } }')).toThrow(/admin/);
    expect(
      check('mutation { createApiKey(input: {tenant: "a", scopes: []}) { key } }', ['admin']),
    ).not.toThrow();
    expect(check('subscription { jobFeed { seq } }', ['artifacts:read'])).toThrow(/jobs:read/);
  });
});
