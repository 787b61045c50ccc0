import { z } from 'zod';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export const Json: z.ZodType<Json> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(Json), z.record(z.string(), Json)]),
);
export const JsonObject = z.record(z.string(), Json);
export type JsonObject = z.infer<typeof JsonObject>;

/**
 * `JsonObject.parse(value)` without zod for the common case, or undefined: "ask the schema". A plain walk that
 * copies, as the schema does, only what it certainly accepts (objects whose prototype is Object.prototype or null,
 * with own enumerable string keys and no symbols, `__proto__` or accessors; arrays; strings; finite numbers; booleans;
 * null) and gives up on anything else, so that the schema stays the one that refuses (and says why) or accepts an
 * odd but valid value. For hot paths that run mostly interpreted (a task runner checks each attempt's outputs:
 * the schema's walk was ≈ 14 % of its work per attempt there).
 */
export function plainJsonObject(value: unknown): JsonObject | undefined {
  if (!isPlainRecord(value)) return undefined;
  const copy = plainJson(value);
  return copy === GIVE_UP ? undefined : (copy as JsonObject);
}

const GIVE_UP = Symbol('give up');

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function plainJson(v: unknown): Json | typeof GIVE_UP {
  if (typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : GIVE_UP;
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== Array.prototype) return GIVE_UP;
    const out: Json[] = [];
    for (let i = 0; i < v.length; i++) {
      const item = plainJson(v[i]);
      if (item === GIVE_UP) return GIVE_UP;
      out.push(item);
    }
    return out;
  }
  if (!isPlainRecord(v)) return GIVE_UP;
  if (Object.getOwnPropertySymbols(v).length > 0) return GIVE_UP;
  const keys = Object.keys(v);
  // a non-enumerable own key: the schema skips it, this walk does not try
  if (Object.getOwnPropertyNames(v).length !== keys.length) return GIVE_UP;
  const out: Record<string, Json> = {};
  for (const key of keys) {
    if (key === '__proto__') return GIVE_UP;
    const d = Object.getOwnPropertyDescriptor(v, key)!;
    if (!('value' in d)) return GIVE_UP; // an accessor: read once by the schema, not by this walk
    const item = plainJson(d.value);
    if (item === GIVE_UP) return GIVE_UP;
    out[key] = item;
  }
  return out;
}

/** A JSON Schema document (validated structurally by ajv where it is used). */
export const JsonSchema = z.record(z.string(), z.unknown());
export type JsonSchema = z.infer<typeof JsonSchema>;

export const IsoDateTime = z.iso.datetime({ offset: false });

/**
 * Whether `value` nests objects and arrays more than `maxDepth` levels deep (the value itself, when an object or
 * array, is level 1). An explicit stack, no recursion: it runs before the recursive parsers and serializers that a
 * deep value would overflow.
 */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}
