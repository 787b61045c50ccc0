import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { REPO_ROOT, tempDir } from './processes.js';

/**
 * Each bundled module keeps its own `import.meta.url` (its source file), so what it reads beside itself (a lib's
 * Lua scripts) is found as when it runs from source.
 */
const ownImportMetaUrl: Plugin = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => ({
      contents: (await readFile(args.path, 'utf8')).replaceAll(
        'import.meta.url',
        JSON.stringify(pathToFileURL(args.path).href),
      ),
      loader: 'ts',
    }));
  },
};

/**
 * Bundles a TypeScript entry (#libs from source, npm packages left external) into one ESM file that plain node
 * runs: for tests that watch a child process from outside (one that blocks or ends its process). It is written
 * under the repository's .tmp/ so its npm imports resolve from the repo, and removed with the spec file.
 */
export async function bundleChild(entry: URL): Promise<string> {
  const parent = join(REPO_ROOT, '.tmp');
  mkdirSync(parent, { recursive: true });
  const outfile = join(tempDir('bundle', parent), `${basename(fileURLToPath(entry), '.ts')}.mjs`);
  await build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    conditions: ['types'], // package.json imports: #libs/* → libs/*/src/index.ts
    plugins: [ownImportMetaUrl],
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}
