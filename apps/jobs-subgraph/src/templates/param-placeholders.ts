import type { Json, JsonObject } from '#libs/contracts';

/** `{ "$param": "<name>" }` in a template's node inputs: replaced by the param's value at expansion. */
export interface ParamPlaceholder {
  $param: string;
}

export function isParamPlaceholder(value: unknown): value is ParamPlaceholder {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof (value as { $param?: unknown }).$param === 'string'
  );
}

export interface FoundPlaceholder {
  param: string;
  /** Keys and indexes inside `inputs`. */
  path: Array<string | number>;
  /** An array element cannot be left out when its param is absent, so it needs a value. */
  inArray: boolean;
}

export function findPlaceholders(inputs: JsonObject | undefined): FoundPlaceholder[] {
  const found: FoundPlaceholder[] = [];
  const walk = (value: Json, path: Array<string | number>, inArray: boolean): void => {
    if (isParamPlaceholder(value)) found.push({ param: value.$param, path, inArray });
    else if (Array.isArray(value)) value.forEach((item, i) => walk(item, [...path, i], true));
    else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) walk(item, [...path, key], false);
    }
  };
  if (inputs) for (const [key, value] of Object.entries(inputs)) walk(value, [key], false);
  return found;
}

/**
 * A copy of `inputs` with each placeholder replaced by its param. An object property whose param is
 * absent (optional, no default) is left out, so the task's own default applies.
 */
export function substituteParams(inputs: JsonObject, params: Record<string, Json>): JsonObject {
  const resolve = (value: Json): Json | undefined => {
    if (isParamPlaceholder(value))
      return Object.hasOwn(params, value.$param) ? params[value.$param] : undefined;
    if (Array.isArray(value)) return value.map((item) => resolve(item) ?? null);
    if (value !== null && typeof value === 'object') {
      const out: JsonObject = {};
      for (const [key, item] of Object.entries(value)) {
        const resolved = resolve(item);
        if (resolved !== undefined) out[key] = resolved;
      }
      return out;
    }
    return value;
  };
  return resolve(inputs) as JsonObject;
}
