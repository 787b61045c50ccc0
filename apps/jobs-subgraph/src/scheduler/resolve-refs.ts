import { isOutputRef, parseRef, type Json, type JsonObject } from '#libs/contracts';

export class UnresolvedRefError extends Error {
  constructor(
    readonly ref: string,
    reason: string,
  ) {
    super(`cannot resolve ${ref}: ${reason}`);
    this.name = 'UnresolvedRefError';
  }
}

/**
 * Replaces every `{ "$ref": "<node>.outputs.<field>" }` (at any depth) by that upstream node's recorded output.
 * The planner has checked each ref names an upstream node and a declared field; a missing value here means
 * the upstream task omitted an optional field, which the downstream node cannot run without.
 */
export function resolveRefs(
  inputs: JsonObject,
  outputsOf: (nodeId: string) => JsonObject | undefined,
): JsonObject {
  const walk = (value: Json): Json => {
    if (isOutputRef(value)) {
      const target = parseRef(value.$ref);
      if (!target) throw new UnresolvedRefError(value.$ref, 'malformed reference');
      const outputs = outputsOf(target.nodeId);
      if (!outputs) throw new UnresolvedRefError(value.$ref, `node ${target.nodeId} has no recorded outputs`);
      if (!(target.field in outputs))
        throw new UnresolvedRefError(value.$ref, `output ${target.field} is absent`);
      return outputs[target.field]!;
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
    }
    return value;
  };
  return walk(inputs) as JsonObject;
}
