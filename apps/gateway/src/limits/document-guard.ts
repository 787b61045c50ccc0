import {
  GraphQLError,
  Kind,
  Lexer,
  NoSchemaIntrospectionCustomRule,
  parse,
  Source,
  TokenKind,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValidationRule,
} from 'graphql';
import { nestsDeeperThan } from '#libs/contracts';
import { gatewayError } from '../gateway-errors.js';
import {
  COMPLEXITY_LIMIT_NAMES,
  measureOperation,
  pickOperation,
  type ComplexityLimits,
  type ComplexityResult,
  type CostDirectives,
} from '#libs/graphql-cost';
import { DocumentCache, type KnownDocument } from './document-cache.js';

/**
 * Deepest nesting of braces, brackets and parentheses in a document (selection sets, argument lists, list and
 * object literals), checked by the lexer before parsing: graphql-js parses recursively (a list literal nested ≈ 2,400
 * deep overflowed its stack within the default token limit) and so do the validator and the query planner. An
 * ordinary document nests a few levels per selection (the depth limit bounds those) plus its literals.
 */
export const MAX_DOCUMENT_NESTING = 128;

/**
 * Deepest nesting of objects and arrays in `variables`: the gateway serializes them (JSON.stringify, recursive)
 * for the subgraph, where 5,000 levels — a 30 KB body — overflowed its stack. The jobs subgraph allows a
 * submission 64 levels (MAX_JSON_DEPTH), so no variable it accepts is refused here.
 */
export const MAX_VARIABLES_DEPTH = 128;

/** Default memory (estimated) for admitted documents: thousands of ordinary ones. */
export const DEFAULT_DOCUMENT_CACHE_BYTES = 32 * 1024 * 1024;

/** Bounds checked while and right after parsing, before validation or planning spend anything. */
export interface DocumentLimits {
  /** UTF-8 bytes of the document text. */
  maxBytes: number;
  /** Lexer tokens (graphql-js stops parsing past it). */
  maxTokens: number;
  /** Operations and fragments. */
  maxDefinitions: number;
  /** `...Fragment` occurrences in the text (their expansion is bounded by cost/selections). */
  maxFragmentSpreads: number;
  /** UTF-8 bytes of one string literal. */
  maxStringBytes: number;
}

export type GuardLimits = DocumentLimits & ComplexityLimits;

export const GUARD_LIMIT_NAMES: Record<keyof GuardLimits, string> = {
  maxBytes: 'documentBytes',
  maxTokens: 'tokens',
  maxDefinitions: 'definitions',
  maxFragmentSpreads: 'fragmentSpreads',
  maxStringBytes: 'stringBytes',
  ...COMPLEXITY_LIMIT_NAMES,
  defaultListSize: 'defaultListSize',
};

export interface AdmitRequest {
  /** The document text as the client sent it (anything: it is checked). */
  query: unknown;
  operationName?: unknown;
  variables?: unknown;
  schema: GraphQLSchema;
  /** The supergraph's @cost/@listSize (the API schema `schema` has none); without: each field 1, lists the default. */
  costs?: CostDirectives;
  /** Run graphql-js validation too (graphql-ws); HTTP leaves it to Apollo, which validates anyway. */
  validate: boolean;
  introspection: boolean;
}

export interface AdmittedDocument {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  /** The operation's measured cost (within maxCost): per event for a subscription. */
  cost: number;
}

export interface DocumentGuardMetrics {
  refused(reason: 'QUERY_TOO_COMPLEX' | 'BAD_USER_INPUT'): void;
}

/** Thrown by DocumentGuard.admit: every error carries a contract code (QUERY_TOO_COMPLEX or BAD_USER_INPUT). */
export class DocumentRefused extends Error {
  constructor(readonly errors: GraphQLError[]) {
    super(errors[0]?.message ?? 'document refused');
    this.name = 'DocumentRefused';
  }
}

const tooComplex = (limit: keyof GuardLimits, actual: number, max: number, what: string) =>
  gatewayError('QUERY_TOO_COMPLEX', `operation too complex: ${what}`, {
    limits: [{ limit: GUARD_LIMIT_NAMES[limit], actual, max }],
  });

const badInput = (message: string, reason: string, extra: Record<string, unknown> = {}) =>
  gatewayError('BAD_USER_INPUT', message, { reason, ...extra });

/**
 * The one gate every GraphQL document passes, over HTTP (before Apollo) and graphql-ws alike: size and
 * tokens while parsing, definitions, spreads and string sizes right after, then the memoised
 * cost/depth/alias/selection/directive walk (QueryComplexity), then (graphql-ws) validation. Each step is
 * linear in the document, and the document is bounded first, so any input is answered in a few ms. What it
 * learns about an admitted document (parse, shape, complexity unless a list size is a variable,
 * validation) is kept by text in a DocumentCache, so a document sent again costs a map lookup.
 */
export class DocumentGuard {
  private readonly rulesWithIntrospection: readonly ValidationRule[] = specifiedRules;
  private readonly rulesWithoutIntrospection: readonly ValidationRule[] = [
    ...specifiedRules,
    NoSchemaIntrospectionCustomRule,
  ];

  private readonly cache: DocumentCache | null;

  constructor(
    readonly limits: GuardLimits,
    private readonly metrics: Partial<DocumentGuardMetrics> = {},
    options: { cacheBytes?: number } = {},
  ) {
    const cacheBytes = options.cacheBytes ?? DEFAULT_DOCUMENT_CACHE_BYTES;
    this.cache = cacheBytes > 0 ? new DocumentCache(cacheBytes) : null;
  }

  /** Distinct documents remembered. */
  get cachedDocuments(): number {
    return this.cache?.size ?? 0;
  }

  /** Throws DocumentRefused; otherwise the parsed document and the operation to run. */
  admit(request: AdmitRequest): AdmittedDocument {
    try {
      return this.check(request);
    } catch (e) {
      if (!(e instanceof DocumentRefused)) throw e;
      const code = e.errors[0]?.extensions?.code;
      this.metrics.refused?.(code === 'QUERY_TOO_COMPLEX' ? 'QUERY_TOO_COMPLEX' : 'BAD_USER_INPUT');
      throw e;
    }
  }

  private check(request: AdmitRequest): AdmittedDocument {
    const refuse = (error: GraphQLError): never => {
      throw new DocumentRefused([error]);
    };
    const l = this.limits;
    const { query } = request;
    if (typeof query !== 'string' || query.length === 0)
      refuse(badInput('the request has no GraphQL document (`query` must be a string)', 'NO_DOCUMENT'));
    const source = query as string;
    // UTF-16 length ≤ UTF-8 bytes ≤ 3 × length: count bytes only when the cheap bounds do not decide.
    if (source.length > l.maxBytes || (source.length * 3 > l.maxBytes && byteLength(source) > l.maxBytes))
      refuse(
        badInput(`the document is larger than ${l.maxBytes} bytes`, 'DOCUMENT_TOO_LARGE', {
          limits: [{ limit: GUARD_LIMIT_NAMES.maxBytes, max: l.maxBytes }],
        }),
      );
    if (request.operationName != null && typeof request.operationName !== 'string')
      refuse(badInput('`operationName` must be a string', 'BAD_REQUEST'));
    if (
      request.variables != null &&
      (typeof request.variables !== 'object' || Array.isArray(request.variables))
    )
      refuse(badInput('`variables` must be an object', 'BAD_REQUEST'));
    if (request.variables != null && nestsDeeperThan(request.variables, MAX_VARIABLES_DEPTH))
      refuse(
        badInput(`\`variables\` nest deeper than ${MAX_VARIABLES_DEPTH} levels`, 'VARIABLES_TOO_DEEP', {
          limits: [{ limit: 'variablesDepth', max: MAX_VARIABLES_DEPTH }],
        }),
      );

    const known = this.cache?.get(source) ?? this.parseAndCheck(source, refuse);
    const document = known.document;
    const operationName = (request.operationName as string | undefined) ?? undefined;
    const variables = (request.variables as Record<string, unknown> | undefined) ?? undefined;
    const operation = pickOperation(document, operationName);
    if (!operation)
      refuse(
        badInput(
          operationName
            ? `unknown operation named "${operationName}"`
            : 'the document holds several operations: name one in `operationName`',
          'OPERATION_RESOLUTION_FAILURE',
        ),
      );
    const measured = this.measure(known, request.schema, request.costs, operationName, variables)!;
    if (measured.cycle !== undefined)
      refuse(
        badInput(`cannot spread fragment "${measured.cycle}" within itself`, 'GRAPHQL_VALIDATION_FAILED'),
      );
    if (measured.violation) {
      const v = measured.violation;
      refuse(tooComplex(v.limit, v.actual, v.max, `${GUARD_LIMIT_NAMES[v.limit]} ${v.actual} > ${v.max}`));
    }
    if (request.validate) {
      const errors = this.validate(known, request.schema, request.introspection);
      if (errors.length)
        throw new DocumentRefused(errors.map((e) => badInput(e.message, 'GRAPHQL_VALIDATION_FAILED')));
    }
    return { document, operation: operation!, cost: measured.report?.cost ?? 0 };
  }

  /** Parse within the token bound, then the shape checks; an admitted document is remembered. */
  private parseAndCheck(source: string, refuse: (e: GraphQLError) => never): KnownDocument {
    const l = this.limits;
    const nesting = documentNesting(source, MAX_DOCUMENT_NESTING, l.maxTokens);
    if (nesting > MAX_DOCUMENT_NESTING)
      refuse(
        gatewayError(
          'QUERY_TOO_COMPLEX',
          `operation too complex: nests deeper than ${MAX_DOCUMENT_NESTING}`,
          {
            limits: [{ limit: 'nesting', actual: nesting, max: MAX_DOCUMENT_NESTING }],
          },
        ),
      );
    let document: DocumentNode;
    try {
      // noLocation: positions are not needed to answer, and cost memory per node.
      document = parse(source, { maxTokens: l.maxTokens, noLocation: true });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      // graphql-js 16: "Document contains more that N tokens. Parsing aborted."
      if (/contains more th\w+ \d+ tokens/.test(message))
        refuse(tooComplex('maxTokens', l.maxTokens + 1, l.maxTokens, `more than ${l.maxTokens} tokens`));
      refuse(badInput(message, 'GRAPHQL_PARSE_FAILED'));
    }
    this.checkShape(document!, refuse);
    if (this.cache) return this.cache.add(source, document!);
    return { document: document!, measured: new Map(), validated: new Map(), bytes: 0 };
  }

  /** measureOperation, once per document, operation, schema and cost directives unless it depends on variables. */
  private measure(
    known: KnownDocument,
    schema: GraphQLSchema,
    costs: CostDirectives | undefined,
    operationName: string | undefined,
    variables: Record<string, unknown> | undefined,
  ): ComplexityResult | null {
    const key = operationName ?? '';
    const hit = known.measured.get(key);
    if (hit && hit.schema === schema && hit.costs === costs) return hit.result;
    const result = measureOperation(schema, known.document, operationName, variables, this.limits, costs);
    if (!result?.dependsOnVariables) known.measured.set(key, { schema, costs, result });
    return result;
  }

  /** graphql-js validation, once per document, rule set and schema. */
  private validate(
    known: KnownDocument,
    schema: GraphQLSchema,
    introspection: boolean,
  ): readonly GraphQLError[] {
    const key = introspection ? 'with-introspection' : 'without-introspection';
    const hit = known.validated.get(key);
    if (hit && hit.schema === schema) return hit.errors;
    const rules = introspection ? this.rulesWithIntrospection : this.rulesWithoutIntrospection;
    // maxErrors: a document full of mistakes gets a bounded answer.
    const errors = validate(schema, known.document, rules, { maxErrors: 20 });
    known.validated.set(key, { schema, errors });
    return errors;
  }

  /** Definitions, spreads and string literals: one pass over the (token-bounded) tree. */
  private checkShape(document: DocumentNode, refuse: (e: GraphQLError) => never): void {
    const l = this.limits;
    if (document.definitions.length > l.maxDefinitions)
      refuse(
        tooComplex(
          'maxDefinitions',
          document.definitions.length,
          l.maxDefinitions,
          `definitions ${document.definitions.length} > ${l.maxDefinitions}`,
        ),
      );
    let spreads = 0;
    const stack: unknown[] = [document];
    while (stack.length) {
      const node = stack.pop() as { kind?: string; value?: unknown } | null;
      if (!node || typeof node !== 'object') continue;
      if (node.kind === Kind.FRAGMENT_SPREAD && ++spreads > l.maxFragmentSpreads)
        refuse(
          tooComplex(
            'maxFragmentSpreads',
            spreads,
            l.maxFragmentSpreads,
            `fragment spreads ${spreads} > ${l.maxFragmentSpreads}`,
          ),
        );
      if (
        node.kind === Kind.STRING &&
        typeof node.value === 'string' &&
        node.value.length * 3 > l.maxStringBytes &&
        byteLength(node.value) > l.maxStringBytes
      )
        refuse(
          badInput(`a string literal is longer than ${l.maxStringBytes} bytes`, 'STRING_TOO_LARGE', {
            limits: [{ limit: GUARD_LIMIT_NAMES.maxStringBytes, max: l.maxStringBytes }],
          }),
        );
      for (const value of Object.values(node)) {
        if (Array.isArray(value)) for (const item of value) stack.push(item);
        else if (value && typeof value === 'object') stack.push(value);
      }
    }
  }
}

/**
 * How deep braces, brackets and parentheses nest in `source`, read by graphql-js's lexer (strings and comments are
 * single tokens): stops once past `max` (answering max + 1), past `maxTokens` tokens (parse refuses those) or at a
 * lexing error (parse reports it).
 */
function documentNesting(source: string, max: number, maxTokens: number): number {
  const lexer = new Lexer(new Source(source));
  let depth = 0;
  let deepest = 0;
  try {
    for (let tokens = 0; tokens <= maxTokens; tokens++) {
      const kind = lexer.advance().kind;
      if (kind === TokenKind.EOF) break;
      if (kind === TokenKind.BRACE_L || kind === TokenKind.BRACKET_L || kind === TokenKind.PAREN_L) {
        deepest = Math.max(deepest, ++depth);
        if (deepest > max) break;
      } else if (kind === TokenKind.BRACE_R || kind === TokenKind.BRACKET_R || kind === TokenKind.PAREN_R)
        depth--;
    }
  } catch {
    // a syntax error: parse answers it
  }
  return deepest;
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
