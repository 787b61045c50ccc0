import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { browserPageHeaders } from '../http/browser-page-headers.js';
import { BundledApp } from '../http/bundled-app.js';
import { buildPlayground, PLAYGROUND_DIR, playgroundBuilt } from './build-playground.js';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

export interface PlaygroundOptions {
  graphqlPath: string;
  logger: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  dir?: string;
}

const page = (graphqlPath: string, assets: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Switchyard GraphQL</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="switchyard-graphql-path" content="${graphqlPath}">
<meta name="switchyard-assets" content="${assets}">
<link rel="stylesheet" href="${assets}/playground.css">
<style>body{margin:0;height:100vh;font-family:system-ui,sans-serif}#graphiql{height:100vh}.sy-frame{display:flex;flex-direction:column;height:100vh}.sy-graphiql{flex:1;min-height:0}.sy-bar{display:flex;gap:16px;align-items:center;padding:4px 12px;font-size:13px;border-bottom:1px solid #d0d7de;background:#f4f6f8;color:#1b1f24}.sy-bar button{margin-left:auto}.sy-prompt{max-width:440px;margin:12vh auto;padding:24px;border:1px solid #d0d7de;border-radius:10px;background:#f4f6f8;color:#1b1f24}.sy-prompt form{display:flex;flex-direction:column;gap:10px}.sy-prompt h1{font-size:20px;margin:0 0 6px}.sy-prompt label{font-weight:600}.sy-prompt input{font:inherit;padding:6px 8px;border:1px solid #8c959f;border-radius:6px}.sy-prompt button,.sy-bar button{font:inherit;padding:5px 12px;border-radius:6px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;cursor:pointer}.sy-prompt button:disabled{opacity:.6}.sy-hint{font-size:13px;color:#4d5561;margin:0}.sy-error{border:1px solid #f19a9a;background:#ffebe9;color:#6e0b17;padding:8px;border-radius:6px;margin:0}a{color:#0b57d0}</style>
</head>
<body><div id="graphiql">Loading the playground…</div><script type="module" src="${assets}/playground.js"></script></body>
</html>
`;

/**
 * GraphiQL runs operations with the caller's key: no other site may frame it (clickjacking). Only
 * `frame-ancestors` in the CSP: GraphiQL's editor starts its own workers and styles, which a fuller policy would
 * have to be tested against.
 */
const PAGE_HEADERS = browserPageHeaders("frame-ancestors 'none'");

/**
 * GraphiQL: the page for a browser's GET of /graphql (Accept: text/html) or /playground, and its bundled
 * assets under /playground/assets. Everything else on /graphql passes through to the API.
 */
export function playgroundHandler(o: PlaygroundOptions): RequestHandler {
  const assets = '/playground/assets';
  const app = new BundledApp({
    label: 'GraphiQL',
    dir: o.dir ?? PLAYGROUND_DIR,
    built: playgroundBuilt,
    build: buildPlayground,
    types: TYPES,
    assetCacheControl: 'public, max-age=3600',
    logger: o.logger,
  });
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET') return next();
    const url = req.originalUrl.split('?')[0]!;
    if (url.startsWith(`${assets}/`)) return app.serveAsset(res, url.slice(assets.length + 1));
    const isPage =
      url === '/playground' ||
      url === '/playground/' ||
      (url === o.graphqlPath &&
        req.accepts(['application/json', 'text/html']) === 'text/html' &&
        !req.query.query);
    if (!isPage) return next();
    app.servePage(res, page(o.graphqlPath, assets), PAGE_HEADERS);
  };
}
