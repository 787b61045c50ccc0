import { buildSchema, execute, GraphQLError, parse } from 'graphql';
import { IdentityError } from '#libs/auth';
import { DomainError, formatGraphQLError, notFound, unavailableWhenDisconnected } from './index.js';

const wrap = (original: Error) => new GraphQLError(original.message, { originalError: original });
const fmt = (e: GraphQLError, production = true) => formatGraphQLError(e.toJSON(), e, { production });

describe('formatGraphQLError', () => {
  it('maps a domain error to its code and extensions', () => {
    const out = fmt(wrap(new DomainError('INVALID_GRAPH', 'bad graph', { errors: [{ code: 'CYCLE' }] })));
    expect(out.extensions).toEqual({ code: 'INVALID_GRAPH', errors: [{ code: 'CYCLE' }] });
    expect(fmt(wrap(notFound('job', 'j1'))).extensions?.code).toBe('NOT_FOUND');
  });
  it('maps identity errors to UNAUTHENTICATED', () => {
    expect(fmt(wrap(new IdentityError('MISSING', 'no identity'))).extensions?.code).toBe('UNAUTHENTICATED');
  });
  it('hides internals in production and shows them in development', () => {
    const e = new GraphQLError('boom at 10.0.0.5:6379', {
      originalError: new Error('boom at 10.0.0.5:6379'),
      extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x'] },
    });
    const prod = fmt(e, true);
    expect(prod.message).toBe('internal error');
    expect(JSON.stringify(prod)).not.toMatch(/10\.0\.0\.5|stacktrace/);
    expect(fmt(e, false).message).toMatch(/boom/);
  });
  const socketError = (code: string) =>
    Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code, syscall: 'connect' });
  it.each([
    ['a socket error (by its code)', socketError('ECONNREFUSED')],
    [
      'fetch failing on a socket error (its cause)',
      new TypeError('fetch failed', { cause: socketError('ECONNRESET') }),
    ],
    [
      'ioredis giving up while reconnecting (by type)',
      Object.assign(new Error('max retries'), { name: 'MaxRetriesPerRequestError' }),
    ],
  ])('reports %s as UNAVAILABLE without the host', (_case, error) => {
    const out = fmt(wrap(error));
    expect(out.extensions?.code).toBe('UNAVAILABLE');
    expect(out.message).not.toMatch(/127/);
  });
  it('classifies by the connection state, not the message', () => {
    const closed = () => wrap(new Error('Connection is closed.'));
    const down = { status: 'reconnecting' };
    const up = { status: 'ready' };
    // the peer died: the socket stopped being writable before the client noticed ("Stream isn't writeable")
    const dying = { status: 'ready', stream: { writable: false } };
    const format = (c: { status: string; stream?: { writable: boolean } }) =>
      formatGraphQLError(closed().toJSON(), closed(), {
        production: true,
        unavailable: unavailableWhenDisconnected(c),
      });
    expect(format(down).extensions?.code).toBe('UNAVAILABLE');
    expect(format(dying).extensions?.code).toBe('UNAVAILABLE');
    expect(format(up).extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(fmt(closed()).extensions?.code).toBe('INTERNAL_SERVER_ERROR');
  });
  it('keeps request error codes such as GRAPHQL_VALIDATION_FAILED', () => {
    const e = new GraphQLError('Cannot query field "x"', {
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
    expect(fmt(e).extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED' });
  });
  it('answers variable errors BAD_USER_INPUT, which graphql-ws hands on without a code, and logs nothing', () => {
    const schema = buildSchema('type Query { job(id: ID!, first: Int): String }');
    const logged: unknown[] = [];
    const errorsOf = (variables: Record<string, unknown>) =>
      (
        execute({
          schema,
          document: parse('query ($id: ID!, $first: Int) { job(id: $id, first: $first) }'),
          variableValues: variables,
        }) as { errors: GraphQLError[] }
      ).errors.map((e) =>
        formatGraphQLError(e.toJSON(), e, { production: true, log: (x) => logged.push(x) }),
      );
    for (const variables of [{}, { id: null }, { id: { x: 1 } }, { id: '1', first: 'ten' }])
      expect(errorsOf(variables).map((e) => e.extensions)).toEqual([{ code: 'BAD_USER_INPUT' }]);
    expect(logged).toEqual([]);
    // the same text from anywhere else is not a request error
    expect(
      fmt(new GraphQLError('Variable "$id" of required type "ID!" was not provided.')).extensions?.code,
    ).toBe('INTERNAL_SERVER_ERROR');
  });
});
