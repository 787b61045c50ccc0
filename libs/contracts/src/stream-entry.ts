/**
 * The values of field `name` in a Redis stream entry's flat [field, value, …] list, in order. A field name may
 * repeat in an entry: the reports stream and the tenant feeds put several items of one step in one entry.
 */
export function streamFieldValues(fields: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) values.push(fields[i + 1]!);
  return values;
}

/** Orders two stream entry ids ("ms-seq"; either part may pass 2^53, so compared as bigints). */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** A flat [name, value, …] reply (XINFO STREAM, XINFO GROUPS entries) as a map of its pairs. */
export function replyPairs(flat: readonly unknown[]): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(String(flat[i]), flat[i + 1]);
  return m;
}
