import type { Redis } from 'ioredis';
import { defineScripts } from '#libs/redis';

/**
 * The atomic metadata steps of artifacts, one Lua file each in `lua/` (named and loaded as defineScripts in
 * #libs/redis says). Every key a script touches is passed in KEYS.
 */
export const STORAGE_SCRIPT_NAMES = [
  'deleteArtifact',
  'reserveUpload',
  'commitUpload',
  'claimDueRemovals',
  'stageArtifact',
  'moveSweepEntry',
] as const;
export type StorageScriptName = (typeof STORAGE_SCRIPT_NAMES)[number];

export const STORAGE_SCRIPTS = defineScripts({
  label: 'storage',
  dir: new URL('./lua/', import.meta.url),
  names: STORAGE_SCRIPT_NAMES,
});

/** Runs a storage script by sha, sending its source when Redis does not have it (first use, after a restart). */
export const runStorageScript = (
  redis: Redis,
  name: StorageScriptName,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown> => STORAGE_SCRIPTS.run(redis, name, keys, args);
