import type { DocumentNode, GraphQLError, GraphQLSchema } from 'graphql';
import type { ComplexityResult, CostDirectives } from '#libs/graphql-cost';

/** Rough memory of a parsed document per character of its text (AST objects without locations). */
const BYTES_PER_CHAR = 16;
const ENTRY_OVERHEAD_BYTES = 1024;

/** A complexity result, and what it was measured against. */
export interface MeasuredOperation {
  schema: GraphQLSchema;
  costs: CostDirectives | undefined;
  result: ComplexityResult | null;
}

/** What DocumentGuard learnt about one document text, reused by every later request sending it. */
export interface KnownDocument {
  /** Parsed, with size/shape checks passed. */
  document: DocumentNode;
  /**
   * Complexity per operation name ('' for the only one), for the schema and cost directives it was measured
   * against; not kept when it depends on variables (a list size given as one): that is measured per request.
   */
  measured: Map<string, MeasuredOperation>;
  /** graphql-js validation per rule set, for the schema it ran against. */
  validated: Map<string, { schema: GraphQLSchema; errors: readonly GraphQLError[] }>;
  bytes: number;
}

/**
 * Documents DocumentGuard admitted, by text, least recently used out first within an estimated memory
 * budget: clients send the same few documents over and over, so parsing, the shape walk, the complexity
 * walk and validation run once per distinct document (and schema), not per request. Documents that do not
 * parse or fail the shape checks are not kept (each costs its few ms again); one refused for complexity or
 * validation is kept with its verdict.
 */
export class DocumentCache {
  private readonly entries = new Map<string, KnownDocument>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(text: string): KnownDocument | undefined {
    const known = this.entries.get(text);
    if (known) {
      // most recently used last
      this.entries.delete(text);
      this.entries.set(text, known);
    }
    return known;
  }

  add(text: string, document: DocumentNode): KnownDocument {
    const known: KnownDocument = {
      document,
      measured: new Map(),
      validated: new Map(),
      bytes: text.length * BYTES_PER_CHAR + ENTRY_OVERHEAD_BYTES,
    };
    if (known.bytes > this.maxBytes) return known;
    this.entries.set(text, known);
    this.bytes += known.bytes;
    for (const [oldText, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldText);
      this.bytes -= old.bytes;
    }
    return known;
  }
}
