import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built runner entry beside this file; when running from sources (jest), the one in dist/. */
export function defaultRunnerEntry(): string {
  const beside = fileURLToPath(new URL('./runner-main.js', import.meta.url));
  if (existsSync(beside)) return beside;
  const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../..');
  return join(repoRoot, 'dist/apps/gpu-worker/src/runner/runner-main.js');
}
