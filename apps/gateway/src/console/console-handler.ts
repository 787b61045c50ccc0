import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
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
  const dir = o.dir ?? CONSOLE_DIR;
  let building: Promise<void> | null = null;
  const ensureBuilt = () => {
    if (consoleBuilt(dir)) return Promise.resolve();
    building ??= (async () => {
      o.logger.info({ dir }, 'console bundle missing; bundling it once');
      await buildConsole(dir);
    })().catch((e: unknown) => {
      building = null;
      throw e;
    });
    return building;
  };

  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const url = req.originalUrl.split('?')[0]!;
    if (url !== CONSOLE_PATH && !url.startsWith(`${CONSOLE_PATH}/`)) return next();
    if (url.startsWith(`${ASSETS}/`)) {
      const name = url.slice(ASSETS.length + 1);
      if (!/^[\w.-]+$/.test(name) || name.includes('..')) return void res.status(404).end();
      void ensureBuilt()
        .then(() => readFile(join(dir, name)))
        .then(
          (body) =>
            res
              .type(TYPES[extname(name)] ?? 'application/octet-stream')
              .setHeader('cache-control', 'no-cache')
              .send(body),
          () => res.status(404).end(),
        );
      return;
    }
    void ensureBuilt().then(
      () =>
        res
          .type('text/html; charset=utf-8')
          .setHeader('cache-control', 'no-store')
          .setHeader('x-frame-options', 'DENY')
          .setHeader('referrer-policy', 'no-referrer')
          .send(shell),
      (e: unknown) => {
        o.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'console unavailable');
        res
          .status(503)
          .type('text/plain')
          .send('the console bundle is missing and could not be built (esbuild is a dev dependency)');
      },
    );
  };
}
