import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/**
 * The scheduler's atomic transitions (and the fair-share stage's steps), one Lua file each, named `<name>-<key count>.lua` like BullMQ's commands.
 * `--@include <file>` lines inline `lua/includes/<file>.lua`, so shared helpers are written once.
 */
export type ScriptName =
  | 'submitJob'
  | 'startAttempt'
  | 'recordProgress'
  | 'appendLog'
  | 'completeAttempt'
  | 'failAttempt'
  | 'releaseAttempt'
  | 'cancelJob'
  | 'failJob'
  | 'retryJob'
  | 'purgeJob'
  | 'recountTenantUsage'
  | 'fairEnqueue'
  | 'fairDispatch'
  | 'fairRelease'
  | 'fairRemove';

interface LoadedScript {
  name: ScriptName;
  numberOfKeys: number;
  lua: string;
  sha: string;
}

/**
 * tsc copies no .lua files into dist/; dist mirrors the source tree, so a built module finds its scripts at the
 * same relative place under the repository root.
 */
function luaDir(): string {
  const here = new URL('./lua/', import.meta.url);
  const direct = fileURLToPath(here);
  if (existsSync(direct)) return direct;
  const fromDist = fileURLToPath(here).replace(/([\\/])dist([\\/])(?!.*[\\/]dist[\\/])/, '$1');
  if (existsSync(fromDist)) return fromDist;
  throw new Error(`scheduler Lua scripts not found at ${direct} or ${fromDist}`);
}

function loadScripts(): Map<ScriptName, LoadedScript> {
  const dir = luaDir();
  const includes = new Map<string, string>();
  for (const f of readdirSync(`${dir}includes`))
    includes.set(f.replace(/\.lua$/, ''), readFileSync(`${dir}includes/${f}`, 'utf8'));
  const scripts = new Map<ScriptName, LoadedScript>();
  for (const file of readdirSync(dir)) {
    const m = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file);
    if (!m) continue;
    const lua = readFileSync(`${dir}${file}`, 'utf8').replace(/^--@include (\S+)$/gm, (_l, inc: string) => {
      const body = includes.get(inc);
      if (body === undefined) throw new Error(`${file}: unknown include ${inc}`);
      return body;
    });
    const name = m[1] as ScriptName;
    scripts.set(name, {
      name,
      numberOfKeys: Number(m[2]),
      lua,
      sha: createHash('sha1').update(lua).digest('hex'),
    });
  }
  return scripts;
}

let cache: Map<ScriptName, LoadedScript> | undefined;

/** Runs a transition script by sha, loading it on first use (and after a Redis restart flushed the cache). */
export async function runScript(
  redis: Redis,
  name: ScriptName,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown> {
  cache ??= loadScripts();
  const script = cache.get(name);
  if (!script) throw new Error(`no Lua script named ${name}`);
  if (keys.length !== script.numberOfKeys)
    throw new Error(`${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
    return redis.eval(script.lua, keys.length, ...keys, ...args);
  }
}

const EXPECTED: readonly ScriptName[] = [
  'submitJob',
  'startAttempt',
  'recordProgress',
  'appendLog',
  'completeAttempt',
  'failAttempt',
  'releaseAttempt',
  'cancelJob',
  'failJob',
  'retryJob',
  'purgeJob',
  'recountTenantUsage',
  'fairEnqueue',
  'fairDispatch',
  'fairRelease',
  'fairRemove',
];

/** At boot: every transition script is present and its includes resolve (throws naming what is missing). */
export function checkScripts(): ScriptName[] {
  cache ??= loadScripts();
  const missing = EXPECTED.filter((n) => !cache!.has(n));
  if (missing.length > 0) throw new Error(`scheduler Lua scripts missing: ${missing.join(', ')}`);
  return [...cache.keys()];
}

/** Loads every script into Redis (SCRIPT LOAD compiles it: a syntax error shows here, not mid-transition). */
export async function loadAllScripts(redis: Redis): Promise<ScriptName[]> {
  const names = checkScripts();
  for (const s of cache!.values()) await redis.script('LOAD', s.lua);
  return names;
}
