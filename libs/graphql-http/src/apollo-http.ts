import type { ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import type { Step, StepRequest } from './http-steps.js';

/** The query string of a request target (`?…`, without a fragment), as url.parse's `search` gives it; '' for none. */
function searchOf(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return '';
  const hash = url.indexOf('#', q);
  return hash < 0 ? url.slice(q) : url.slice(q, hash);
}

/** Content-Type with `charset=utf-8`, as express's `res.send` of a string sets it (Apollo's JSON types have it). */
function withUtf8(type: string): string {
  if (/^[^;]+; charset=utf-8$/.test(type)) return type;
  const params = type
    .split(';')
    .slice(1)
    .map((p) => p.trim())
    .filter((p) => p && !/^charset\s*=/i.test(p));
  return [type.split(';')[0]!.trim().toLowerCase(), ...params, 'charset=utf-8'].join('; ');
}

/**
 * Apollo Server over node's request and response: what `expressMiddleware` of @as-integrations/express5 does
 * (the same request for Apollo, the same status, headers and body back, Content-Type with charset=utf-8 as
 * express's `res.send` sets it), for a request whose body a step before has parsed.
 */
export function apolloHttp<C extends BaseContext>(
  server: ApolloServer<C>,
  context: (req: StepRequest, res: ServerResponse) => Promise<C>,
): Step {
  server.assertStarted('apolloHttp()');
  return async (req, res) => {
    if (!('body' in req)) {
      res.statusCode = 500;
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end('`req.body` is not set: a body step must run before apolloHttp');
      return;
    }
    const headers = new HeaderMap();
    const given = req.headers;
    for (const key in given) {
      const value = given[key];
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const response = await server.executeHTTPGraphQLRequest({
      httpGraphQLRequest: {
        method: req.method!.toUpperCase(),
        headers,
        search: searchOf(req.url ?? ''),
        body: req.body,
      },
      context: () => context(req, res),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status || 200;
    if (response.body.kind === 'complete') {
      const type = res.getHeader('content-type');
      res.setHeader('content-type', typeof type === 'string' ? withUtf8(type) : 'text/html; charset=utf-8');
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  };
}
