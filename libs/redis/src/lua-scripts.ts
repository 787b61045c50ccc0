import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/**
 * Lua scripts kept as files, one per script, named `<name>-<key count>.lua` like BullMQ's commands
 * (`<name>-n.lua`: the caller passes any number of keys, at least one). A line `--@include <file>` (in a script or in an include) inlines
 * `includes/<file>.lua` from the script's own folder, else from this lib's `lua/includes/` (shared helpers such
 * as `redis-now`), so a helper is written once.
 */
export interface LuaScript {
  name: string;
  /** null: variadic (`-n.lua`). */
  numberOfKeys: number | null;
  lua: string;
  sha: string;
}

export interface ScriptSetOptions<N extends string> {
  /** What the scripts are for, in error messages ("scheduler", "storage"). */
  label: string;
  /** The folder of the `.lua` files, e.g. `new URL('./lua/', import.meta.url)`. */
  dir: URL;
  /** Every script this set must hold: the boot check fails naming any that is missing. */
  names: readonly N[];
}

/** One owner's scripts: run by sha (source sent on NOSCRIPT), checked and loaded at boot. */
export interface ScriptSet<N extends string> {
  /** What the scripts are for and every name the set holds (the boot check's list). */
  readonly label: string;
  readonly names: readonly N[];
  /** Runs a script by sha, sending its source when Redis does not have it (first use, after a restart). */
  run(redis: Redis, name: N, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown>;
  /** At boot: every expected script is present and its includes resolve (throws naming what is missing). */
  check(): N[];
  /** Loads every script into Redis (SCRIPT LOAD compiles it: a syntax error shows here, not mid-step). */
  loadAll(redis: Redis): Promise<N[]>;
  /** The loaded script (for tests: key counts, source). */
  get(name: N): LuaScript;
}

const SHARED_INCLUDES = new URL('./lua/includes/', import.meta.url);

/**
 * tsc copies no .lua files into dist/; dist mirrors the source tree, so a built module finds its scripts at the
 * same relative place under the repository root.
 */
export function resolveSourceDir(dir: URL): string | undefined {
  const direct = fileURLToPath(dir);
  if (existsSync(direct)) return direct;
  const fromDist = direct.replace(/([\\/])dist([\\/])(?!.*[\\/]dist[\\/])/, '$1');
  return existsSync(fromDist) ? fromDist : undefined;
}

function readIncludes(dir: string | undefined): Map<string, string> {
  const includes = new Map<string, string>();
  if (dir === undefined || !existsSync(dir)) return includes;
  for (const f of readdirSync(dir))
    if (f.endsWith('.lua')) includes.set(f.replace(/\.lua$/, ''), readFileSync(`${dir}${f}`, 'utf8'));
  return includes;
}

function loadFolder(label: string, dirUrl: URL): Map<string, LuaScript> {
  const dir = resolveSourceDir(dirUrl);
  if (dir === undefined) throw new Error(`${label} Lua scripts not found at ${fileURLToPath(dirUrl)}`);
  const own = readIncludes(`${dir}includes/`);
  const shared = readIncludes(resolveSourceDir(SHARED_INCLUDES));
  const scripts = new Map<string, LuaScript>();
  for (const file of readdirSync(dir)) {
    const m = /^([A-Za-z]+)-(\d+|n)\.lua$/.exec(file);
    if (!m) continue;
    // an include may include others (two includes sharing a helper): each is inlined where it is named
    const inline = (text: string, depth: number): string =>
      text.replace(/^--@include (\S+)$/gm, (_l, inc: string) => {
        const body = own.get(inc) ?? shared.get(inc);
        if (body === undefined) throw new Error(`${label} ${file}: unknown include ${inc}`);
        if (depth >= 4)
          throw new Error(`${label} ${file}: includes nested deeper than 4 (a cycle?) at ${inc}`);
        return inline(body, depth + 1);
      });
    const lua = inline(readFileSync(`${dir}${file}`, 'utf8'), 0);
    scripts.set(m[1]!, {
      name: m[1]!,
      numberOfKeys: m[2] === 'n' ? null : Number(m[2]),
      lua,
      sha: createHash('sha1').update(lua).digest('hex'),
    });
  }
  return scripts;
}

/** Declares one owner's script folder; files are read once, on first use or at the boot check. */
export function defineScripts<N extends string>(options: ScriptSetOptions<N>): ScriptSet<N> {
  let cache: Map<string, LuaScript> | undefined;
  const scripts = (): Map<string, LuaScript> => (cache ??= loadFolder(options.label, options.dir));
  const get = (name: N): LuaScript => {
    const script = scripts().get(name);
    if (!script) throw new Error(`no ${options.label} Lua script named ${name}`);
    return script;
  };
  const check = (): N[] => {
    const missing = options.names.filter((n) => !scripts().has(n));
    if (missing.length > 0) throw new Error(`${options.label} Lua scripts missing: ${missing.join(', ')}`);
    return [...options.names];
  };
  return {
    label: options.label,
    names: options.names,
    get,
    check,
    async run(redis, name, keys, args) {
      const script = get(name);
      const expected = script.numberOfKeys;
      if (expected === null ? keys.length < 1 : keys.length !== expected)
        throw new Error(`${name} takes ${expected ?? 'one or more'} keys, got ${keys.length}`);
      try {
        return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
      } catch (e) {
        if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
        return redis.eval(script.lua, keys.length, ...keys, ...args);
      }
    },
    async loadAll(redis) {
      const names = check();
      for (const name of names) await redis.script('LOAD', get(name).lua);
      return names;
    },
  };
}
