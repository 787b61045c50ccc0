import {
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  getNamedType,
  GraphQLSchema,
  isListType,
  isNonNullType,
  GraphQLOutputType,
  isCompositeType,
  GraphQLCompositeType,
  isObjectType,
  isInterfaceType,
  Kind,
  OperationDefinitionNode,
  SelectionSetNode,
  valueFromASTUntyped,
} from 'graphql';

export interface ComplexityLimits {
  maxDepth: number;
  maxAliases: number;
  maxRootFields: number;
  maxCost: number;
  /** Selections (fields, inline fragments, spreads) of the operation with every fragment expanded. */
  maxSelections: number;
  /** Directives of the operation with every fragment expanded. */
  maxDirectives: number;
  /** Assumed length of a list field without a `first` argument. */
  defaultListSize: number;
}

export interface ComplexityReport {
  depth: number;
  aliases: number;
  rootFields: number;
  cost: number;
  selections: number;
  directives: number;
}

export type ComplexityLimitName = keyof Omit<ComplexityLimits, 'defaultListSize'>;

export interface ComplexityViolation {
  limit: ComplexityLimitName;
  actual: number;
  max: number;
}

export type ComplexityResult =
  | { report: ComplexityReport; violation?: undefined; cycle?: undefined }
  /** The first limit found exceeded; the walk stopped there, so `actual` is a lower bound. */
  | { violation: ComplexityViolation; report?: undefined; cycle?: undefined }
  /** A fragment spreads itself (invalid GraphQL): nothing to measure. */
  | { cycle: string; report?: undefined; violation?: undefined };

/** Counts saturate here: a 2^n fragment bomb must not reach Infinity (Infinity × 0 is NaN, which passes `>`). */
const CAP = Number.MAX_SAFE_INTEGER;
const sat = (n: number) => (n > CAP ? CAP : n);

/** What one selection set (or fragment) adds, independent of where it is spread. */
interface Summary {
  /** Cost at multiplier 1 (cost is linear in the multiplier of the list above). */
  cost: number;
  /** Levels below this set (0: only leaf fields). */
  depth: number;
  aliases: number;
  /** Fields at this set's own level (through fragments): root fields when spread at the root. */
  fields: number;
  selections: number;
  directives: number;
}

class Exceeded {
  constructor(readonly violation: ComplexityViolation) {}
}
class Cycle {
  constructor(readonly fragment: string) {}
}

/**
 * Measures one operation: depth (nesting of selection sets), aliases, root fields, cost, selections and
 * directives. Cost counts each field once, multiplied by the sizes of the lists above it: `first`/`last`
 * when given (on a list or a connection, whose edges are then not counted again), else `defaultListSize`
 * per list, so `jobs(first: 100) { edges { node { nodes { id } } } }` costs what it may fetch.
 *
 * Each fragment is measured once (memoised per fragment and "parent had first/last") and its summary
 * reused at every spread, so the work is linear in the document even when fragments spread each other
 * exponentially; the walk stops at the first limit exceeded. A fragment cycle is reported, not followed.
 */
export function measureOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined | null,
  variables: Record<string, unknown> | undefined | null,
  limits: ComplexityLimits,
): ComplexityResult | null {
  const operation = pickOperation(document, operationName);
  if (!operation) return null;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION && !fragments.has(d.name.value)) fragments.set(d.name.value, d);
  const { defaultListSize } = limits;
  /** name|sized → summary; `null` while being measured (a spread meeting it is a cycle). */
  const memo = new Map<string, Summary | null>();

  const exceed = (limit: ComplexityLimitName, actual: number) => {
    if (actual > limits[limit]) throw new Exceeded({ limit, actual, max: limits[limit] });
  };
  /** Context-free parts of a summary that are limits whatever the spread's position. */
  const checkSummary = (s: Summary) => {
    exceed('maxDepth', s.depth + 1);
    exceed('maxAliases', s.aliases);
    exceed('maxSelections', s.selections);
    exceed('maxDirectives', s.directives);
  };

  /** `first`/`last` of a field (a list or a connection), when given. */
  const pageSize = (field: FieldNode): number | undefined => {
    const arg = field.arguments?.find((a) => a.name.value === 'first' || a.name.value === 'last');
    if (!arg) return undefined;
    const value = valueFromASTUntyped(arg.value, variables ?? undefined);
    return typeof value === 'number' && value >= 0 ? value : defaultListSize;
  };

  const fragmentSummary = (name: string, parent: GraphQLCompositeType | undefined, sized: boolean) => {
    const fragment = fragments.get(name);
    if (!fragment) return undefined; // unknown fragment: validation rejects it
    const key = `${name}\u0000${sized ? 1 : 0}`;
    const known = memo.get(key);
    if (known) return known;
    if (known === null) throw new Cycle(name);
    memo.set(key, null);
    const cond = schema.getType(fragment.typeCondition.name.value);
    const summary = summarize(fragment.selectionSet, cond && isCompositeType(cond) ? cond : parent, sized);
    summary.directives = sat(summary.directives + (fragment.directives?.length ?? 0));
    checkSummary(summary);
    memo.set(key, summary);
    return summary;
  };

  /** The summary of one selection set; `sized`: the parent had first/last (its list children are counted). */
  const summarize = (
    set: SelectionSetNode,
    parent: GraphQLCompositeType | undefined,
    sized: boolean,
  ): Summary => {
    const s: Summary = { cost: 0, depth: 0, aliases: 0, fields: 0, selections: 0, directives: 0 };
    const add = (child: Summary, multiplier: number, depthBelow: number) => {
      s.cost = sat(s.cost + sat(multiplier * child.cost));
      s.depth = Math.max(s.depth, depthBelow);
      s.aliases = sat(s.aliases + child.aliases);
      s.selections = sat(s.selections + child.selections);
      s.directives = sat(s.directives + child.directives);
    };
    for (const sel of set.selections) {
      s.selections++;
      s.directives += sel.directives?.length ?? 0;
      if (sel.kind === Kind.FIELD) {
        s.fields++;
        if (sel.alias) s.aliases++;
        if (sel.name.value.startsWith('__')) continue; // __typename / introspection: cheap and bounded
        const fieldDef =
          parent && (isObjectType(parent) || isInterfaceType(parent))
            ? parent.getFields()[sel.name.value]
            : undefined;
        s.cost = sat(s.cost + 1);
        if (!sel.selectionSet) continue;
        const size = pageSize(sel);
        const isList = !!fieldDef && returnsList(fieldDef.type);
        const fieldMultiplier = size ?? (isList && !sized ? defaultListSize : 1);
        const named = fieldDef ? getNamedType(fieldDef.type) : undefined;
        const child = summarize(
          sel.selectionSet,
          named && isCompositeType(named) ? named : undefined,
          size !== undefined,
        );
        add(child, fieldMultiplier, child.depth + 1);
      } else {
        let child: Summary | undefined;
        if (sel.kind === Kind.INLINE_FRAGMENT) {
          const cond = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parent;
          child = summarize(sel.selectionSet, cond && isCompositeType(cond) ? cond : parent, sized);
        } else {
          child = fragmentSummary(sel.name.value, parent, sized);
        }
        if (!child) continue;
        add(child, 1, child.depth);
        s.fields = sat(s.fields + child.fields);
      }
      // Stop as soon as this set alone is over a limit: never finish walking a bomb.
      checkSummary(s);
    }
    return s;
  };

  try {
    const rootType = schema.getRootType(operation.operation) ?? undefined;
    const s = summarize(operation.selectionSet, rootType, false);
    const report: ComplexityReport = {
      depth: s.depth + 1,
      aliases: s.aliases,
      rootFields: s.fields,
      cost: s.cost,
      selections: s.selections,
      directives: sat(s.directives + (operation.directives?.length ?? 0)),
    };
    const order: [ComplexityLimitName, number][] = [
      ['maxDepth', report.depth],
      ['maxAliases', report.aliases],
      ['maxRootFields', report.rootFields],
      ['maxCost', report.cost],
      ['maxSelections', report.selections],
      ['maxDirectives', report.directives],
    ];
    for (const [limit, actual] of order) exceed(limit, actual);
    return { report };
  } catch (e) {
    if (e instanceof Exceeded) return { violation: e.violation };
    if (e instanceof Cycle) return { cycle: e.fragment };
    throw e;
  }
}

export function pickOperation(
  document: DocumentNode,
  operationName?: string | null,
): OperationDefinitionNode | undefined {
  const ops = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  if (operationName) return ops.find((o) => o.name?.value === operationName);
  return ops.length === 1 ? ops[0] : undefined;
}

function returnsList(type: GraphQLOutputType): boolean {
  const t = isNonNullType(type) ? type.ofType : type;
  return isListType(t);
}
