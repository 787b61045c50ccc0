/** How a client sends the bytes of an UploadTicket: a multipart/form-data POST of its fields, then `file`. */
export interface UploadTicketLike {
  uploadUrl: string;
  method: string;
  headers: Record<string, string>;
  fields: Record<string, string>;
}

/**
 * Posts `bytes` with the ticket's form fields (in order) and the file part last, as a browser form would.
 * `override` replaces fields (an attacker's edits: another Content-Type, another key).
 */
export function sendUpload(
  ticket: UploadTicketLike,
  bytes: Buffer,
  override: Record<string, string> = {},
): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries({ ...ticket.fields, ...override })) form.append(name, value);
  const type = override['Content-Type'] ?? ticket.fields['Content-Type'] ?? 'application/octet-stream';
  form.append('file', new Blob([bytes], { type }), 'upload');
  return fetch(ticket.uploadUrl, { method: ticket.method, headers: ticket.headers, body: form });
}
