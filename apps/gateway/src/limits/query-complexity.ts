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
  /** Assumed length of a list field without a `first` argument. */
  defaultListSize: number;
}

export interface ComplexityReport {
  depth: number;
  aliases: number;
  rootFields: number;
  cost: number;
}

export interface ComplexityViolation {
  limit: keyof Omit<ComplexityLimits, 'defaultListSize'>;
  actual: number;
  max: number;
}

/**
 * Measures one operation: depth (nesting of selection sets), aliases, root fields and cost. Cost counts
 * each field once, multiplied by the sizes of the lists above it: `first`/`last` when given (on a list or
 * a connection, whose edges are then not counted again), else `defaultListSize` per list, so
 * `jobs(first: 100) { edges { node { nodes { id } } } }` costs what it may fetch.
 * Fragments are expanded; a fragment cycle (invalid anyway) is cut rather than followed.
 */
export function measureOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined | null,
  variables: Record<string, unknown> | undefined | null,
  defaultListSize: number,
): ComplexityReport | null {
  const operation = pickOperation(document, operationName);
  if (!operation) return null;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const rootType = schema.getRootType(operation.operation) ?? undefined;
  const report: ComplexityReport = { depth: 0, aliases: 0, rootFields: 0, cost: 0 };

  /** `first`/`last` of a field (a list or a connection), when given. */
  const pageSize = (field: FieldNode): number | undefined => {
    const arg = field.arguments?.find((a) => a.name.value === 'first' || a.name.value === 'last');
    if (!arg) return undefined;
    const value = valueFromASTUntyped(arg.value, variables ?? undefined);
    return typeof value === 'number' && value >= 0 ? value : defaultListSize;
  };

  const walk = (
    set: SelectionSetNode,
    parent: GraphQLCompositeType | undefined,
    depth: number,
    multiplier: number,
    visiting: Set<string>,
    isRoot: boolean,
    /** The parent had first/last: its list children (a connection's edges) are already counted by it. */
    parentSized = false,
  ) => {
    report.depth = Math.max(report.depth, depth);
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        if (sel.alias) report.aliases++;
        if (isRoot) report.rootFields++;
        if (sel.name.value.startsWith('__')) continue; // __typename / introspection: cheap and bounded
        const fieldDef =
          parent && (isObjectType(parent) || isInterfaceType(parent))
            ? parent.getFields()[sel.name.value]
            : undefined;
        const size = pageSize(sel);
        const isList = !!fieldDef && returnsList(fieldDef.type);
        const fieldMultiplier = size ?? (isList && !parentSized ? defaultListSize : 1);
        report.cost += multiplier;
        if (sel.selectionSet) {
          const named = fieldDef ? getNamedType(fieldDef.type) : undefined;
          const childType = named && isCompositeType(named) ? named : undefined;
          walk(
            sel.selectionSet,
            childType,
            depth + 1,
            multiplier * fieldMultiplier,
            visiting,
            false,
            size !== undefined,
          );
        }
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const cond = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parent;
        walk(
          sel.selectionSet,
          cond && isCompositeType(cond) ? cond : parent,
          depth,
          multiplier,
          visiting,
          isRoot,
          parentSized,
        );
      } else {
        const name = sel.name.value;
        const fragment = fragments.get(name);
        if (!fragment || visiting.has(name)) continue;
        const cond = schema.getType(fragment.typeCondition.name.value);
        visiting.add(name);
        walk(
          fragment.selectionSet,
          cond && isCompositeType(cond) ? cond : parent,
          depth,
          multiplier,
          visiting,
          isRoot,
          parentSized,
        );
        visiting.delete(name);
      }
    }
  };
  walk(operation.selectionSet, rootType, 1, 1, new Set(), true);
  return report;
}

export function complexityViolations(
  report: ComplexityReport,
  limits: ComplexityLimits,
): ComplexityViolation[] {
  const out: ComplexityViolation[] = [];
  const check = (limit: ComplexityViolation['limit'], actual: number) => {
    if (actual > limits[limit]) out.push({ limit, actual, max: limits[limit] });
  };
  check('maxDepth', report.depth);
  check('maxAliases', report.aliases);
  check('maxRootFields', report.rootFields);
  check('maxCost', report.cost);
  return out;
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
