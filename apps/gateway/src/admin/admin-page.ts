import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { browserPageHeaders } from '../http/browser-page-headers.js';

/**
 * Everything the page loads comes from this origin (bull-board's bundle in node_modules): the browser
 * refuses other hosts, so the UI works offline and leaks nothing. Inline styles are bull-board's own
 * (its loading screen); job data is rendered by React, and no inline script may run.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = browserPageHeaders(CONTENT_SECURITY_POLICY);

/** Headers for every admin response: no framing (the UI has buttons), no caching of queue data. */
export const adminSecurityHeaders: RequestHandler = (_req, res, next) => {
  for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value);
  res.setHeader('cache-control', 'no-store');
  next();
};

/** `<link>` tags that load from another host (bull-board's page asks Google Fonts for its typeface). */
const EXTERNAL_LINK = /<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?\/\/[^>]*>\s*/gi;

export const withoutExternalLinks = (html: string): string => html.replace(EXTERNAL_LINK, '');

/**
 * bull-board renders its page with `res.render`; this renders it to a string first and drops external
 * links, so the page falls back to local fonts instead of calling a CDN.
 */
export const renderWithoutExternalLinks: RequestHandler = (
  _req: Request,
  res: Response,
  next: NextFunction,
) => {
  const render = res.render.bind(res) as (
    view: string,
    options: object,
    callback: (err: Error | null, html?: string) => void,
  ) => void;
  res.render = ((view: string, options?: object) =>
    render(view, options ?? {}, (err, html) => {
      if (err) return next(err);
      res.type('html').send(withoutExternalLinks(html ?? ''));
    })) as Response['render'];
  next();
};
