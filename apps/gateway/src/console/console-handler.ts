import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { browserPageHeaders } from '../http/browser-page-headers.js';
import { BundledApp } from '../http/bundled-app.js';
import { buildConsole, CONSOLE_DIR, consoleBuilt } from './build-console.js';

export const CONSOLE_PATH = '/console';
const ASSETS = `${CONSOLE_PATH}/assets`;

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export interface ConsoleOptions {
  logger: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  dir?: string;
  /**
   * Origin of the object store's presigned URLs (S3_PUBLIC_ENDPOINT, else S3_ENDPOINT: the artifacts subgraph
   * signs for that host, path-style), which the console POSTs uploads to and loads artifacts from.
   */
  storageOrigin?: string;
}

/**
 * The console renders tenants' data (job errors, node messages, artifact names): React escapes it, and this
 * policy is the defence behind that. Scripts only from this origin's bundle (no inline script or handler, no
 * eval: the submit form validates without Ajv's `new Function`, see browser/schema-validator.ts), no inline
 * style, requests only to this origin (GraphQL over HTTP and its graphql-ws socket: 'self' covers ws/wss of the
 * same host) and to the object store, no plugin, no <base>, no native form submission, no framing.
 */
export function consoleSecurityHeaders(storageOrigin?: string): Record<string, string> {
  const self = "'self'";
  const store = storageOrigin ? ` ${storageOrigin}` : '';
  const policy = [
    `default-src ${self}`,
    `script-src ${self}`,
    `style-src ${self}`,
    `img-src ${self}${store}`,
    `connect-src ${self}${store}`,
    `font-src ${self}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return browserPageHeaders(policy);
}

const shell = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Switchyard console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${ASSETS}/console.css">
</head>
<body><div id="console"><p class="boot">Loading the console…</p></div>
<noscript>The Switchyard console needs JavaScript.</noscript>
<script type="module" src="${ASSETS}/console.js"></script></body>
</html>
`;

/**
 * The console: its bundled assets under /console/assets, and the same app shell for every other /console
 * path, so that deep links (/console/jobs/<id>) survive a reload. Mount on /console.
 */
export function consoleHandler(o: ConsoleOptions): RequestHandler {
  const app = new BundledApp({
    label: 'console',
    dir: o.dir ?? CONSOLE_DIR,
    built: consoleBuilt,
    build: buildConsole,
    types: TYPES,
    assetCacheControl: 'no-cache',
    logger: o.logger,
  });
  const headers = consoleSecurityHeaders(o.storageOrigin);
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const url = req.originalUrl.split('?')[0]!;
    if (url !== CONSOLE_PATH && !url.startsWith(`${CONSOLE_PATH}/`)) return next();
    // Every answer under /console, assets and 404s included: nosniff makes the browser refuse a script or
    // style served with another type.
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    if (url.startsWith(`${ASSETS}/`)) return app.serveAsset(res, url.slice(ASSETS.length + 1));
    app.servePage(res, shell, { 'cache-control': 'no-store' });
  };
}
