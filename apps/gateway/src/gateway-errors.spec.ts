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
