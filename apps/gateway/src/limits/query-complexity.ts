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
 * each field once, multiplied by the sizes of the lists above it (`first` when given, else
 * `defaultListSize`), so `jobs(first: 100) { edges { node { nodes { id } } } }` costs what it may fetch.
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
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const rootType = schema.getRootType(operation.operation) ?? undefined;
  const report: ComplexityReport = { depth: 0, aliases: 0, rootFields: 0, cost: 0 };

  const listSize = (field: FieldNode): number => {
    const first = field.arguments?.find((a) => a.name.value === 'first' || a.name.value === 'last');
    if (!first) return defaultListSize;
    const value = valueFromASTUntyped(first.value, variables ?? undefined);
    return typeof value === 'number' && value >= 0 ? value : defaultListSize;
  };

  const walk = (
    set: SelectionSetNode,
    parent: GraphQLCompositeType | undefined,
    depth: number,
    multiplier: number,
    visiting: Set<string>,
    isRoot: boolean,
  ) => {
    report.depth = Math.max(report.depth, depth);
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        if (sel.alias) report.aliases++;
        if (isRoot) report.rootFields++;
        if (sel.name.value.startsWith('__')) continue; // __typename / introspection: cheap and bounded
        const fieldDef = parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[sel.name.value] : undefined;
        const fieldMultiplier = fieldDef && returnsList(fieldDef.type) ? listSize(sel) : 1;
        report.cost += multiplier;
        if (sel.selectionSet) {
          const named = fieldDef ? getNamedType(fieldDef.type) : undefined;
          walk(sel.selectionSet, named && isCompositeType(named) ? named : undefined, depth + 1, multiplier * fieldMultiplier, visiting, false);
        }
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const cond = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parent;
        walk(sel.selectionSet, cond && isCompositeType(cond) ? cond : parent, depth, multiplier, visiting, isRoot);
      } else {
        const name = sel.name.value;
        const fragment = fragments.get(name);
        if (!fragment || visiting.has(name)) continue;
        const cond = schema.getType(fragment.typeCondition.name.value);
        visiting.add(name);
        walk(fragment.selectionSet, cond && isCompositeType(cond) ? cond : parent, depth, multiplier, visiting, isRoot);
        visiting.delete(name);
      }
    }
  };
  walk(operation.selectionSet, rootType, 1, 1, new Set(), true);
  return report;
}

export function complexityViolations(report: ComplexityReport, limits: ComplexityLimits): ComplexityViolation[] {
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

export function pickOperation(document: DocumentNode, operationName?: string | null): OperationDefinitionNode | undefined {
  const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) return ops.find((o) => o.name?.value === operationName);
  return ops.length === 1 ? ops[0] : undefined;
}

function returnsList(type: GraphQLOutputType): boolean {
  const t = isNonNullType(type) ? type.ofType : type;
  return isListType(t);
}
