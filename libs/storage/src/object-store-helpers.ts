import { PassThrough, type Readable } from 'node:stream';
import { isStorageError, SizeMismatchError, type StorageError, StorageUnavailableError } from './errors.js';

/** Whether a bucket policy document lets anyone (Principal "*") in; unreadable counts as yes. */
export function grantsAnonymousAccess(policy: string): boolean {
  try {
    const doc = JSON.parse(policy) as { Statement?: Array<{ Effect?: string; Principal?: unknown }> };
    return (doc.Statement ?? []).some((s) => {
      if (s.Effect !== 'Allow') return false;
      const p = s.Principal as string | { AWS?: string | string[] } | undefined;
      if (p === '*') return true;
      const aws = typeof p === 'object' && p ? p.AWS : undefined;
      return aws === '*' || (Array.isArray(aws) && aws.includes('*'));
    });
  } catch {
    return true; // unreadable: treat as unsafe and replace
  }
}

/** Reads a stream to the end; with `limit`, stops with SizeMismatchError as soon as it is exceeded. */
export async function collect(stream: Readable, limit?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += b.length;
    if (limit !== undefined && total > limit) {
      stream.destroy();
      throw new SizeMismatchError(limit, total);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, total);
}

/**
 * A response body whose failure (a broken or silent transfer, which cannot be retried once bytes were read) is a
 * StorageUnavailableError, passed to `onFailure` once. Destroying the result ends `body` and so its request.
 */
export function typedBody(body: Readable, operation: string, onFailure: (e: StorageError) => void): Readable {
  const out = new PassThrough();
  body.once('error', (e) => {
    const typed = isStorageError(e) ? e : new StorageUnavailableError(operation, e, 1);
    onFailure(typed);
    out.destroy(typed);
  });
  out.once('close', () => body.destroy());
  return body.pipe(out);
}
