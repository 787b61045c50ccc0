import {
  ArgumentNode,
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
  ValueNode,
  valueFromASTUntyped,
} from 'graphql';
import { CostDirectives, type ListSize } from './cost-directives.js';

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

export type ComplexityResult = (
  | { report: ComplexityReport; violation?: undefined; cycle?: undefined }
  /** The first limit found exceeded; the walk stopped there, so `actual` is a lower bound. */
  | { violation: ComplexityViolation; report?: undefined; cycle?: undefined }
  /** A fragment spreads itself (invalid GraphQL): nothing to measure. */
  | { cycle: string; report?: undefined; violation?: undefined }
) & {
  /** A list size came from a variable: the result holds for these variables only (else it may be reused). */
  dependsOnVariables: boolean;
};

/** Counts saturate here: a 2^n fragment bomb must not reach Infinity (Infinity × 0 is NaN, which passes `>`). */
const CAP = Number.MAX_SAFE_INTEGER;
const sat = (n: number) => (n > CAP ? CAP : n);

/**
 * The cost below one list field at the top of a selection set, which the field above that set may size
 * (`@listSize(sizedFields:)`, or a `first`/`last` without directives): summed over the fields of that name.
 */
interface ListCost {
  /** Cost of their selections, once (what a size given from above multiplies). */
  perItem: number;
  /** Cost of their selections × their own sizes (when nothing above sizes them). */
  own: number;
}

/** What one selection set (or fragment) adds, independent of where it is spread. */
interface Summary {
  /**
   * Cost at multiplier 1 (cost is linear in the multiplier of the list above), except the selections of the
   * list fields in `lists`, whose multiplier the parent field decides.
   */
  cost: number;
  /** By field name; only list fields of the schema are kept, so it holds a few entries whatever the document. */
  lists: Map<string, ListCost> | null;
  /** Levels below this set (0: only leaf fields). */
  depth: number;
  aliases: number;
  /** Fields at this set's own level (through fragments): root fields when spread at the root. */
  fields: number;
  selections: number;
  directives: number;
}

/** Which list fields of a selection set the field above sizes, and to what: `all` (a `first`/`last` without directives). */
type Sizing = { fields: ReadonlySet<string> | 'all'; size: number } | undefined;

/** A `first`/`last` sized the field itself: its list children are counted once per item, not again. */
const ALL_COUNTED_ABOVE: Sizing = { fields: 'all', size: 1 };

/** An argument written as a variable the request does not send and that has no default: as if not written. */
const NOT_GIVEN = Symbol('not given');

class Exceeded {
  constructor(readonly violation: ComplexityViolation) {}
}
class Cycle {
  constructor(readonly fragment: string) {}
}

/**
 * Measures one operation: depth (nesting of selection sets), aliases, root fields, cost, selections and
 * directives.
 *
 * Cost counts each field once at its weight (1, or the `@cost` its schema declares on the field or its type,
 * plus the `@cost` of each argument given), multiplied by the sizes of the lists above it. A list's size
 * follows the schema's `@listSize` (`costs`, read from the supergraph: the API schema has no directives):
 * the largest slicing argument given (or defaulted), else `assumedSize`; with `sizedFields` the size goes to
 * those child fields (a connection's `edges`) instead of the field. A field without `@listSize` is sized by
 * its `first`/`last` (on a list or a connection, whose list children are then not counted again), else a list
 * by `defaultListSize`. So `jobs(first: 100) { edges { node { nodes { id } } } }` costs what it may fetch.
 *
 * Each fragment is measured once (memoised by name) and its summary reused at every spread, so the work is
 * linear in the document even when fragments spread each other exponentially: a summary keeps apart the
 * cost under its top-level list fields (a few, by name), which the field it is spread under sizes. The walk
 * stops at the first limit exceeded. A fragment cycle is reported, not followed.
 */
export function measureOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined | null,
  variables: Record<string, unknown> | undefined | null,
  limits: ComplexityLimits,
  costs: CostDirectives = CostDirectives.NONE,
): ComplexityResult | null {
  const operation = pickOperation(document, operationName);
  if (!operation) return null;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION && !fragments.has(d.name.value)) fragments.set(d.name.value, d);
  const { defaultListSize } = limits;
  /** name → summary; `null` while being measured (a spread meeting it is a cycle). */
  const memo = new Map<string, Summary | null>();
  let readVariables = false;

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

  /** Variables' defaults: a variable the request does not send takes its default when the operation runs. */
  const variableDefaults = new Map<string, ValueNode>();
  for (const d of operation.variableDefinitions ?? [])
    if (d.defaultValue) variableDefaults.set(d.variable.name.value, d.defaultValue);

  /**
   * An argument's value as a size, as execution coerces it (the variables are the request's, not coerced): a
   * variable sent takes its value, one not sent its default, else the argument counts as not given (NOT_GIVEN:
   * the field's own default then applies). A non-negative number, else undefined (null, a bad variable).
   */
  const sizeArgument = (arg: ArgumentNode): number | undefined | typeof NOT_GIVEN => {
    let value: unknown;
    if (arg.value.kind === Kind.VARIABLE) {
      readVariables = true;
      const name = arg.value.name.value;
      if (variables && Object.prototype.hasOwnProperty.call(variables, name)) value = variables[name];
      else {
        const d = variableDefaults.get(name);
        if (!d) return NOT_GIVEN;
        value = valueFromASTUntyped(d);
      }
    } else value = valueFromASTUntyped(arg.value, variables ?? undefined);
    // a list given to a slicing argument counts its items (a subgraph's `_entities(representations:)` answers one
    // entity per representation)
    if (Array.isArray(value)) return sat(value.length);
    // rounded up: a fraction (refused later as an Int) must not make the cost a fraction
    return typeof value === 'number' && value >= 0 ? sat(Math.ceil(value)) : undefined;
  };

  /** `first`/`last` of a field without `@listSize` (a list or a connection), the larger when both are given. */
  const pageSize = (field: FieldNode): number | undefined => {
    let size: number | undefined;
    for (const arg of field.arguments ?? []) {
      if (arg.name.value !== 'first' && arg.name.value !== 'last') continue;
      const value = sizeArgument(arg);
      if (value === NOT_GIVEN) continue;
      size = Math.max(size ?? 0, value ?? defaultListSize);
    }
    return size;
  };

  /**
   * The size `@listSize` gives a field: its largest slicing argument (given, or its default when not given),
   * else `assumedSize`. requireOneSlicingArgument is the subgraph's to enforce; counting the largest of
   * several is never less than what it may return.
   */
  const listSize = (field: FieldNode, ls: ListSize): number | undefined => {
    let size: number | undefined;
    for (const name of ls.slicingArguments) {
      const arg = field.arguments?.find((a) => a.name.value === name);
      const given = arg ? sizeArgument(arg) : NOT_GIVEN;
      const value = given === NOT_GIVEN ? ls.slicingDefaults.get(name) : given;
      if (value !== undefined) size = Math.max(size ?? 0, value);
    }
    return size ?? ls.assumedSize;
  };

  const fragmentSummary = (name: string, parent: GraphQLCompositeType | undefined) => {
    const fragment = fragments.get(name);
    if (!fragment) return undefined; // unknown fragment: validation rejects it
    const known = memo.get(name);
    if (known) return known;
    if (known === null) throw new Cycle(name);
    memo.set(name, null);
    const cond = schema.getType(fragment.typeCondition.name.value);
    const summary = summarize(fragment.selectionSet, cond && isCompositeType(cond) ? cond : parent);
    summary.directives = sat(summary.directives + (fragment.directives?.length ?? 0));
    checkSummary(summary);
    memo.set(name, summary);
    return summary;
  };

  /** A summary's cost once the field above it has sized (or not) its top-level lists. */
  const resolve = (s: Summary, sizing: Sizing): number => {
    let cost = s.cost;
    if (s.lists)
      for (const [name, list] of s.lists) {
        const sized = sizing && (sizing.fields === 'all' || sizing.fields.has(name));
        cost = sat(cost + (sized ? sat(sizing.size * list.perItem) : list.own));
      }
    return cost;
  };

  const addList = (s: Summary, name: string, perItem: number, own: number) => {
    s.lists ??= new Map();
    const list = s.lists.get(name);
    if (list) {
      list.perItem = sat(list.perItem + perItem);
      list.own = sat(list.own + own);
    } else s.lists.set(name, { perItem, own });
  };

  /** The summary of one selection set, whatever the field above it (see `resolve`). */
  const summarize = (set: SelectionSetNode, parent: GraphQLCompositeType | undefined): Summary => {
    const s: Summary = {
      cost: 0,
      lists: null,
      depth: 0,
      aliases: 0,
      fields: 0,
      selections: 0,
      directives: 0,
    };
    const add = (child: Summary, depthBelow: number) => {
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
        const declared = fieldDef ? costs.field(parent!.name, sel.name.value) : undefined;
        let weight = declared?.weight ?? 1;
        if (declared?.argumentWeights)
          for (const arg of sel.arguments ?? [])
            if (arg.value.kind !== Kind.NULL) weight += declared.argumentWeights.get(arg.name.value) ?? 0;
        s.cost = sat(s.cost + weight);
        if (!sel.selectionSet) continue;
        const isList = !!fieldDef && returnsList(fieldDef.type);
        /** Its selections' multiplier when the field above does not size it. */
        let own: number;
        /** How it sizes its own selections' lists. */
        let sizing: Sizing;
        /** Whether the field above may size it instead (`sizedFields`, or a `first`/`last`). */
        let sizable: boolean;
        if (declared?.listSize) {
          const size = listSize(sel, declared.listSize);
          own = isList ? (size ?? defaultListSize) : 1;
          const sized = declared.listSize.sizedFields;
          sizing = sized && size !== undefined ? { fields: sized, size } : undefined;
          sizable = isList;
        } else {
          const size = pageSize(sel);
          own = size ?? (isList ? defaultListSize : 1);
          sizing = size !== undefined ? ALL_COUNTED_ABOVE : undefined;
          sizable = isList && size === undefined;
        }
        const named = fieldDef ? getNamedType(fieldDef.type) : undefined;
        const child = summarize(sel.selectionSet, named && isCompositeType(named) ? named : undefined);
        const perItem = resolve(child, sizing);
        if (sizable) addList(s, sel.name.value, perItem, sat(own * perItem));
        else s.cost = sat(s.cost + sat(own * perItem));
        add(child, child.depth + 1);
      } else {
        let child: Summary | undefined;
        if (sel.kind === Kind.INLINE_FRAGMENT) {
          const cond = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parent;
          child = summarize(sel.selectionSet, cond && isCompositeType(cond) ? cond : parent);
        } else {
          child = fragmentSummary(sel.name.value, parent);
        }
        if (!child) continue;
        // Same level: its cost and its top-level lists are this set's (the memoised summary is not changed).
        s.cost = sat(s.cost + child.cost);
        if (child.lists) for (const [name, list] of child.lists) addList(s, name, list.perItem, list.own);
        add(child, child.depth);
        s.fields = sat(s.fields + child.fields);
      }
      // Stop as soon as this set alone is over a limit: never finish walking a bomb.
      checkSummary(s);
    }
    return s;
  };

  try {
    const rootType = schema.getRootType(operation.operation) ?? undefined;
    const s = summarize(operation.selectionSet, rootType);
    const report: ComplexityReport = {
      depth: s.depth + 1,
      aliases: s.aliases,
      rootFields: s.fields,
      cost: resolve(s, undefined),
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
    return { report, dependsOnVariables: readVariables };
  } catch (e) {
    if (e instanceof Exceeded) return { violation: e.violation, dependsOnVariables: readVariables };
    if (e instanceof Cycle) return { cycle: e.fragment, dependsOnVariables: false };
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
