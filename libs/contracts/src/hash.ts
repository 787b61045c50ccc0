import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so equal values hash equally in every process. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

export const schemaHash = (inputSchema: unknown, outputSchema: unknown): string =>
  sha256Hex(canonicalJson({ inputSchema, outputSchema }));
