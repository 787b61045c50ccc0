// An upload as the API wants it: sha256 computed here, createUpload (the API checks type and size against
// its limits before any byte is sent), PUT to the ticket's URL with progress, completeUpload.
import { ApiError, request } from './api-client.js';
import { CompleteUploadMutation, CreateUploadMutation } from './documents.js';
import { sha256OfFile } from './sha256.js';

export type UploadPhase =
  | { phase: 'hashing'; fraction: number }
  | { phase: 'reserving'; sha256: string }
  | { phase: 'uploading'; fraction: number; sha256: string }
  | { phase: 'completing'; sha256: string };

/** What the field accepts, from its schema (the templates describe artifact fields in words). */
export function acceptFor(schema: { description?: string; title?: string }): string | null {
  const text = `${schema.title ?? ''} ${schema.description ?? ''}`.toLowerCase();
  if (/\bimage\b/.test(text)) return 'image/png,image/jpeg,image/webp,image/gif';
  if (/\bcsv\b/.test(text)) return 'text/csv';
  return null;
}

/** Refuses a file before anything is sent: no type, empty, or not what the field accepts. */
export function precheck(file: File, accept: string | null): ApiError | null {
  if (!file.type)
    return new ApiError(
      'BAD_USER_INPUT',
      `${file.name}: the browser cannot tell its type; the API needs one`,
    );
  if (file.size === 0) return new ApiError('BAD_USER_INPUT', `${file.name} is empty`);
  if (accept && !accept.split(',').includes(file.type))
    return new ApiError(
      'BAD_USER_INPUT',
      `${file.name} is ${file.type}; this field takes ${accept.split(',').join(', ')}`,
    );
  return null;
}

/**
 * Sends the bytes as the ticket says: a POST policy form (its `fields` in order, then the file as `file`),
 * which binds the upload to the declared size and type; a ticket without fields is a plain PUT of the body.
 */
function send(
  ticket: { uploadUrl: string; method: string; headers?: unknown; fields?: unknown },
  file: File,
  onProgress: (f: number) => void,
) {
  return new Promise<void>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(ticket.method, ticket.uploadUrl);
    for (const [k, v] of Object.entries((ticket.headers ?? {}) as Record<string, string>)) {
      // The browser sets these itself and refuses them from scripts.
      if (!['host', 'content-length'].includes(k.toLowerCase())) xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () =>
      xhr.status >= 200 && xhr.status < 300
        ? resolve()
        : reject(
            new ApiError(
              'UPLOAD_FAILED',
              `storage answered ${xhr.status} ${xhr.statusText}: ${xhr.responseText.slice(0, 200)}`,
            ),
          );
    xhr.onerror = () =>
      reject(
        new ApiError(
          'UPLOAD_FAILED',
          "the upload could not reach the storage (network, CORS, or the console's Content-Security-Policy: " +
            'the gateway needs the S3_PUBLIC_ENDPOINT the artifacts subgraph has)',
        ),
      );
    const fields = Object.entries((ticket.fields ?? {}) as Record<string, string>);
    if (fields.length === 0) return xhr.send(file);
    const form = new FormData();
    for (const [name, value] of fields) form.append(name, value);
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

export async function uploadFile(key: string, file: File, onPhase: (p: UploadPhase) => void) {
  const sha256 = await sha256OfFile(file, (fraction) => onPhase({ phase: 'hashing', fraction }));
  onPhase({ phase: 'reserving', sha256 });
  const { createUpload: ticket } = await request(key, CreateUploadMutation, {
    input: { name: file.name, contentType: file.type, size: file.size, sha256 },
  });
  onPhase({ phase: 'uploading', fraction: 0, sha256 });
  await send(ticket, file, (fraction) => onPhase({ phase: 'uploading', fraction, sha256 }));
  onPhase({ phase: 'completing', sha256 });
  const { completeUpload } = await request(key, CompleteUploadMutation, { artifactId: ticket.artifactId });
  return completeUpload;
}
