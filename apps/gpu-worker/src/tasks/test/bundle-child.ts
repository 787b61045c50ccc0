import { bundleChild } from '#libs/testing';

/** The run-task-child harness (TypeScript sources, #libs from source) as one ESM file that plain node can run. */
export function bundleRunTaskChild(): Promise<string> {
  return bundleChild(new URL('./run-task-child.ts', import.meta.url));
}
