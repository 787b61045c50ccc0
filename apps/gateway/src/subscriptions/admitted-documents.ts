import type { GraphQLSchema } from 'graphql';
import type { AdmitRequest, AdmittedDocument, DocumentGuard } from '../limits/document-guard.js';
import { ByteLruCache } from './plan-cache.js';

/** Default bound of the admitted-document cache. */
export const ADMITTED_DOCUMENTS_BYTES = 4 * 1024 * 1024;

/**
 * Remembers documents the DocumentGuard admitted over graphql-ws, so 10,000 dashboards subscribing with the
 * same document do not parse, measure and validate it 10,000 times (that was over half of the gateway's CPU
 * during such a burst). Keyed by everything the guard's answer depends on: the schema (one cache per schema
 * object, so a supergraph reload starts afresh), the document text, the operation name, the variables (cost
 * limits read `first`), and introspection. Only admissions are cached: a refused document goes through the
 * guard every time (its refusal metrics stay exact). Bounded by bytes, least recently used out first.
 */
export class AdmittedDocuments {
  private readonly caches = new WeakMap<GraphQLSchema, ByteLruCache<AdmittedDocument>>();
  hits = 0;

  constructor(
    private readonly guard: DocumentGuard,
    private readonly maxBytes = ADMITTED_DOCUMENTS_BYTES,
  ) {}

  admit(request: AdmitRequest): AdmittedDocument {
    if (typeof request.query !== 'string') return this.guard.admit(request);
    let variables: string;
    try {
      variables = JSON.stringify(request.variables ?? null) ?? 'null';
    } catch {
      return this.guard.admit(request); // not JSON (cannot come over the wire): no caching
    }
    let cache = this.caches.get(request.schema);
    if (!cache) this.caches.set(request.schema, (cache = new ByteLruCache(this.maxBytes)));
    const key = ByteLruCache.key(
      String(request.operationName ?? ''),
      request.query,
      variables,
      `${request.validate}:${request.introspection}`,
    );
    const cached = cache.get(key);
    if (cached) {
      this.hits++;
      return cached;
    }
    const admitted = this.guard.admit(request);
    // Rough size of what stays in memory: the parsed document (several times its text) and the key.
    cache.set(key, admitted, 4 * Buffer.byteLength(request.query) + variables.length + 256);
    return admitted;
  }
}
