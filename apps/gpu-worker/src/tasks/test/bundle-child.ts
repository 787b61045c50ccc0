import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url));

/**
 * Bundles the run-task-child harness (TypeScript sources, #libs from source) into one ESM file that plain
 * node can run. It is written under node_modules/.cache so its npm imports resolve from the repo.
 */
export async function bundleRunTaskChild(): Promise<string> {
  const base = join(repoRoot, 'node_modules', '.cache', 'switchyard-tests');
  await mkdir(base, { recursive: true });
  const outfile = join(await mkdtemp(join(base, 'run-task-child-')), 'run-task-child.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./run-task-child.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    conditions: ['types'], // package.json imports: #libs/* → libs/*/src/index.ts
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}
