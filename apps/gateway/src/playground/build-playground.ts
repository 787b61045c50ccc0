import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleBuilt, esbuildInputs, writeBundleManifest } from '../http/bundle-manifest.js';

/** Where the bundle lives: dist/apps/gateway/playground (next to the built gateway). */
export const PLAYGROUND_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../playground');
const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../..');

export const playgroundBuilt = (dir = PLAYGROUND_DIR): boolean => bundleBuilt(dir);

/**
 * Bundles GraphiQL, React, graphql-ws and the Monaco workers from node_modules with esbuild. Runs at build
 * time (npm run compose / build); the gateway falls back to running it once if the bundle is missing.
 */
export async function buildPlayground(outDir = PLAYGROUND_DIR): Promise<void> {
  const startedAt = Date.now();
  const require = createRequire(join(REPO_ROOT, 'package.json'));
  const esbuild = (await import(pathToFileURL(require.resolve('esbuild')).href)) as typeof import('esbuild');
  const source = join(REPO_ROOT, 'apps/gateway/src/playground/browser/playground.jsx');
  mkdirSync(outDir, { recursive: true });
  const common = {
    bundle: true,
    minify: true,
    logLevel: 'warning' as const,
    absWorkingDir: REPO_ROOT,
    metafile: true as const,
    define: { 'process.env.NODE_ENV': '"production"' },
    loader: { '.ttf': 'file' as const, '.woff': 'file' as const, '.woff2': 'file' as const },
  };
  const page = await esbuild.build({
    ...common,
    entryPoints: { playground: source },
    outdir: outDir,
    format: 'esm',
    jsx: 'automatic',
    splitting: false,
  });
  const workers = await esbuild.build({
    ...common,
    entryPoints: {
      'editor.worker': require.resolve('monaco-editor/esm/vs/editor/editor.worker.js'),
      'json.worker': require.resolve('monaco-editor/esm/vs/language/json/json.worker.js'),
      'graphql.worker': require.resolve('monaco-graphql/esm/graphql.worker.js'),
    },
    outdir: outDir,
    format: 'iife',
  });
  writeBundleManifest(
    outDir,
    esbuildInputs(REPO_ROOT, [page.metafile, workers.metafile], fileURLToPath(import.meta.url)),
    startedAt,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  await buildPlayground();
  process.stdout.write(
    `playground bundled into ${dirname(join(PLAYGROUND_DIR, 'x'))} in ${Date.now() - started} ms\n`,
  );
}
