import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleBuilt, esbuildInputs, writeBundleManifest } from '../http/bundle-manifest.js';

/** Where the bundle lives: dist/apps/gateway/console (next to the built gateway). */
export const CONSOLE_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../console');
const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../..');

export const consoleBuilt = (dir = CONSOLE_DIR): boolean => bundleBuilt(dir);

/**
 * Bundles the console (React, rjsf, dagre, graphql-ws and the codegen'd documents) from node_modules with
 * esbuild: no CDN, works offline. Runs in `npm run build`; the gateway runs it once if the bundle is missing.
 */
export async function buildConsole(outDir = CONSOLE_DIR): Promise<void> {
  const startedAt = Date.now();
  const require = createRequire(join(REPO_ROOT, 'package.json'));
  const esbuild = (await import(pathToFileURL(require.resolve('esbuild')).href)) as typeof import('esbuild');
  mkdirSync(outDir, { recursive: true });
  const app = await esbuild.build({
    entryPoints: { console: join(REPO_ROOT, 'apps/gateway/src/console/browser/main.tsx') },
    metafile: true,
    inject: [],
    bundle: true,
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
    absWorkingDir: REPO_ROOT,
    define: { 'process.env.NODE_ENV': '"production"' },
    outdir: outDir,
    format: 'esm',
    jsx: 'automatic',
    target: 'es2022',
  });
  const css = await esbuild.build({
    entryPoints: { console: join(REPO_ROOT, 'apps/gateway/src/console/browser/console.css') },
    metafile: true,
    absWorkingDir: REPO_ROOT,
    bundle: true,
    minify: true,
    logLevel: 'warning',
    outdir: outDir,
  });
  writeBundleManifest(
    outDir,
    esbuildInputs(REPO_ROOT, [app.metafile, css.metafile], fileURLToPath(import.meta.url)),
    startedAt,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  await buildConsole();
  process.stdout.write(`console bundled into ${CONSOLE_DIR} in ${Date.now() - started} ms\n`);
}
