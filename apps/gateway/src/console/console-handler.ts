import type { NextFunction, Request, RequestHandler, Response } from 'express';
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
}

const shell = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Switchyard console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${ASSETS}/console.css">
</head>
<body><div id="console"><p style="font-family:system-ui;padding:20px">Loading the console…</p></div>
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
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const url = req.originalUrl.split('?')[0]!;
    if (url !== CONSOLE_PATH && !url.startsWith(`${CONSOLE_PATH}/`)) return next();
    if (url.startsWith(`${ASSETS}/`)) return app.serveAsset(res, url.slice(ASSETS.length + 1));
    app.servePage(res, shell, {
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    });
  };
}
