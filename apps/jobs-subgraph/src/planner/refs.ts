import { isOutputRef, parseRef, type Json, type JsonObject } from '#libs/contracts';

/** A `{ "$ref": ... }` found in a node's inputs, at any depth. */
export interface FoundRef {
  /** Where it sits inside `inputs` (object keys and array indexes). */
  path: Array<string | number>;
  /** The raw `$ref` string. */
  ref: string;
  /** The parsed target, or null when the string is not "<nodeId>.outputs.<field>". */
  target: { nodeId: string; field: string } | null;
}

/** Every output reference in `inputs`, in document order. A ref's own value is never searched further. */
export function findRefs(inputs: JsonObject | undefined): FoundRef[] {
  const found: FoundRef[] = [];
  const walk = (value: Json, path: Array<string | number>): void => {
    if (isOutputRef(value)) {
      found.push({ path, ref: value.$ref, target: parseRef(value.$ref) });
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, [...path, i]));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) walk(item, [...path, key]);
    }
  };
  if (inputs) for (const [key, value] of Object.entries(inputs)) walk(value, [key]);
  return found;
}

/** Dotted form of a path inside a document, e.g. `inputs.items.0.url`. */
export const dottedPath = (path: ReadonlyArray<string | number>): string => path.join('.');
