/**
 * The values of field `name` in a Redis stream entry's flat [field, value, …] list, in order. A field name may
 * repeat in an entry: the reports stream and the tenant feeds put several items of one step in one entry.
 */
export function streamFieldValues(fields: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) values.push(fields[i + 1]!);
  return values;
}
