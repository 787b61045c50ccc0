import type { Step } from '#libs/graphql-http';

/**
 * CORS for browser clients on other origins (`CORS_ORIGINS`, `*` for any). Credentials are never sent by
 * browsers here (auth is a bearer header), so `*` does not expose cookies.
 */
export function cors(origins: string[]): Step {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin && (any || allowed.has(origin))) {
      res.setHeader('access-control-allow-origin', any ? '*' : origin);
      if (!any) res.appendHeader('vary', 'Origin');
      res.setHeader(
        'access-control-allow-headers',
        'authorization, content-type, accept, apollo-require-preflight',
      );
      res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
      res.setHeader('access-control-max-age', '600');
    }
    if (req.method === 'OPTIONS') {
      res.statusCode = 204;
      res.end();
      return;
    }
    next();
  };
}
