import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/**
 * The atomic metadata steps of artifacts, one Lua file each in `lua/`, named `<name>-<key count>.lua` (like
 * the scheduler's). Every key a script touches is passed in KEYS.
 */
export type StorageScriptName = 'deleteArtifact' | 'reserveUpload' | 'commitUpload' | 'claimDueRemovals';

interface LoadedScript {
  numberOfKeys: number;
  lua: string;
  sha: string;
}

/** tsc copies no .lua files into dist/; dist mirrors the source tree, so look beside the source too. */
function luaDir(): string {
  const direct = fileURLToPath(new URL('./lua/', import.meta.url));
  if (existsSync(direct)) return direct;
  const fromDist = direct.replace(/([\\/])dist([\\/])(?!.*[\\/]dist[\\/])/, '$1');
  if (existsSync(fromDist)) return fromDist;
  throw new Error(`storage Lua scripts not found at ${direct} or ${fromDist}`);
}

function loadScripts(): Map<string, LoadedScript> {
  const dir = luaDir();
  const scripts = new Map<string, LoadedScript>();
  for (const file of readdirSync(dir)) {
    const m = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file);
    if (!m) continue;
    const lua = readFileSync(`${dir}${file}`, 'utf8');
    scripts.set(m[1]!, {
      numberOfKeys: Number(m[2]),
      lua,
      sha: createHash('sha1').update(lua).digest('hex'),
    });
  }
  return scripts;
}

let cache: Map<string, LoadedScript> | undefined;

/** Runs a storage script by sha, sending its source when Redis does not have it (first use, after a restart). */
export async function runStorageScript(
  redis: Redis,
  name: StorageScriptName,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown> {
  cache ??= loadScripts();
  const script = cache.get(name);
  if (!script) throw new Error(`no storage Lua script named ${name}`);
  if (keys.length !== script.numberOfKeys)
    throw new Error(`${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
    return redis.eval(script.lua, keys.length, ...keys, ...args);
  }
}
