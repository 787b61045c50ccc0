import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * `bundle.json`, written last into a browser bundle's folder: when it was built and from which files (esbuild's
 * metafile inputs, the builder itself, the lockfiles), each with its size and mtime. Its presence says the bundle
 * is complete (a build that died half-way writes none); its inputs let `npm run build` skip a bundle none of
 * whose inputs changed. Size + mtime, compared for equality (a checkout that moves a file back in time counts);
 * npm gives every installed file the same fixed mtime, which is why the lockfiles are inputs too.
 */
export const BUNDLE_MANIFEST = 'bundle.json';

/** [size, mtimeMs] of one input; [-1, -1] when it changed while the bundle was being built (never fresh). */
const Stamp = z.tuple([z.number(), z.number()]);
const Manifest = z.object({ builtAt: z.string(), inputs: z.record(z.string(), Stamp) });

const UNTRUSTED: z.infer<typeof Stamp> = [-1, -1];

function stampOf(path: string): z.infer<typeof Stamp> | null {
  try {
    const s = statSync(path);
    return [s.size, s.mtimeMs];
  } catch {
    return null;
  }
}

export const bundleBuilt = (dir: string): boolean => existsSync(join(dir, BUNDLE_MANIFEST));

/**
 * What an esbuild bundle was built from: every input its metafiles name (relative to `root`, esbuild's working
 * directory), the builder module itself and the lockfiles.
 */
export function esbuildInputs(
  root: string,
  metafiles: ReadonlyArray<{ inputs: Record<string, unknown> }>,
  builderFile: string,
): string[] {
  return [
    ...metafiles.flatMap((m) => Object.keys(m.inputs).map((p) => resolve(root, p))),
    builderFile,
    join(root, 'package-lock.json'),
    join(root, 'node_modules/.package-lock.json'),
  ];
}

/**
 * Records what the bundle in `dir` was built from. `startedAtMs`: when the build began; an input modified
 * since then may or may not be in the bundle, so it is recorded as never fresh.
 */
export function writeBundleManifest(dir: string, inputs: Iterable<string>, startedAtMs: number): void {
  const stamps: Record<string, z.infer<typeof Stamp>> = {};
  for (const path of new Set(inputs)) {
    const stamp = stampOf(path);
    if (stamp) stamps[path] = stamp[1] >= startedAtMs ? UNTRUSTED : stamp;
  }
  const manifest: z.infer<typeof Manifest> = { builtAt: new Date().toISOString(), inputs: stamps };
  writeFileSync(join(dir, BUNDLE_MANIFEST), JSON.stringify(manifest));
}

/** Why the bundle in `dir` must be built again, or null when every input is as it was when it was built. */
export function bundleStaleReason(dir: string): string | null {
  let manifest: z.infer<typeof Manifest>;
  try {
    manifest = Manifest.parse(JSON.parse(readFileSync(join(dir, BUNDLE_MANIFEST), 'utf8')));
  } catch {
    return bundleBuilt(dir) ? 'its manifest lists no inputs' : 'not built';
  }
  const entries = Object.entries(manifest.inputs);
  if (entries.length === 0) return 'its manifest lists no inputs';
  for (const [path, [size, mtimeMs]] of entries) {
    const now = stampOf(path);
    if (!now) return `${path} is gone`;
    if (now[0] !== size || now[1] !== mtimeMs) return `${path} changed`;
  }
  return null;
}
