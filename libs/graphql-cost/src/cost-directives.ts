import {
  Kind,
  parse,
  valueFromASTUntyped,
  type DirectiveNode,
  type DocumentNode,
  type FieldDefinitionNode,
  type TypeNode,
} from 'graphql';

/** `@listSize` of one field (IBM GraphQL Cost Directives; Apollo's cost/v0.1 spec). */
export interface ListSize {
  /** The list's size when no slicing argument gives one. */
  assumedSize?: number;
  /** Arguments whose (largest) value is the size: `first`, `last`, `limit`… */
  slicingArguments: readonly string[];
  /** Defaults the field definition gives those arguments (they size it when the argument is not sent). */
  slicingDefaults: ReadonlyMap<string, number>;
  /** Child fields the size applies to (a connection's `edges`) instead of the field itself. */
  sizedFields?: ReadonlySet<string>;
  requireOneSlicingArgument: boolean;
}

/** What the schema's directives say about one output field. */
export interface FieldCost {
  /** `@cost(weight:)` of the field, else of the type it returns. */
  weight?: number;
  listSize?: ListSize;
  /** `@cost(weight:)` of its arguments, by name. */
  argumentWeights?: ReadonlyMap<string, number>;
}

const COST_SPEC = /^https:\/\/specs\.apollo\.dev\/cost\/v\d/;
const FEDERATION_SPEC = /^https:\/\/specs\.apollo\.dev\/federation\/v\d/;

/**
 * The cost directives of a schema, read once from its SDL (the supergraph the gateway loads, a hot reload
 * building a new one; a subgraph's own federation SDL): the API schema clients validate against has them stripped. Keyed by type and field
 * name, so one lookup serves every graphql-js schema built from the same supergraph (ours and Apollo's).
 */
export class CostDirectives {
  static readonly NONE = new CostDirectives(new Map());

  private constructor(private readonly fields: ReadonlyMap<string, ReadonlyMap<string, FieldCost>>) {}

  field(type: string, field: string): FieldCost | undefined {
    return this.fields.get(type)?.get(field);
  }

  static fromSdl(sdl: string | DocumentNode): CostDirectives {
    const doc = typeof sdl === 'string' ? parse(sdl, { noLocation: true }) : sdl;
    const names = directiveNames(doc);
    const typeWeights = new Map<string, number>();
    const fieldsOf: [string, readonly FieldDefinitionNode[]][] = [];
    for (const d of doc.definitions) {
      if (!('name' in d) || !d.name || !('directives' in d)) continue;
      const typeWeight = weightOf(d.directives, names.cost);
      if (typeWeight !== undefined) typeWeights.set(d.name.value, typeWeight);
      if (
        (d.kind === Kind.OBJECT_TYPE_DEFINITION ||
          d.kind === Kind.OBJECT_TYPE_EXTENSION ||
          d.kind === Kind.INTERFACE_TYPE_DEFINITION ||
          d.kind === Kind.INTERFACE_TYPE_EXTENSION) &&
        d.fields
      )
        fieldsOf.push([d.name.value, d.fields]);
    }
    const fields = new Map<string, Map<string, FieldCost>>();
    for (const [type, defs] of fieldsOf) {
      for (const def of defs) {
        const cost: FieldCost = {};
        const weight = weightOf(def.directives, names.cost) ?? typeWeights.get(namedType(def.type));
        if (weight !== undefined) cost.weight = weight;
        const listSize = listSizeOf(def, names.listSize);
        if (listSize) cost.listSize = listSize;
        const argumentWeights = new Map<string, number>();
        for (const arg of def.arguments ?? []) {
          const w = weightOf(arg.directives, names.cost);
          if (w !== undefined) argumentWeights.set(arg.name.value, w);
        }
        if (argumentWeights.size) cost.argumentWeights = argumentWeights;
        if (cost.weight === undefined && !cost.listSize && !cost.argumentWeights) continue;
        let byField = fields.get(type);
        if (!byField) fields.set(type, (byField = new Map()));
        byField.set(def.name.value, cost);
      }
    }
    return new CostDirectives(fields);
  }
}

/**
 * The names the directives go by in this schema. A supergraph links the cost spec: `@cost` is the spec's
 * own name (`@<as>`), `@listSize` is `@<as>__listSize` unless imported (maybe renamed). A subgraph imports
 * both through its federation link. A schema without either uses the plain names.
 */
function directiveNames(doc: DocumentNode): { cost: string; listSize: string } {
  let federation: { cost: string; listSize: string } | undefined;
  for (const d of doc.definitions) {
    if (d.kind !== Kind.SCHEMA_DEFINITION && d.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const link of d.directives ?? []) {
      if (link.name.value !== 'link') continue;
      const args = Object.fromEntries(
        (link.arguments ?? []).map((a) => [a.name.value, valueFromASTUntyped(a.value)] as const),
      ) as { url?: unknown; as?: unknown; import?: unknown };
      if (typeof args.url !== 'string') continue;
      const isCost = COST_SPEC.test(args.url);
      if (!isCost && !FEDERATION_SPEC.test(args.url)) continue;
      const ns = typeof args.as === 'string' ? args.as : isCost ? 'cost' : 'federation';
      const imported = importsOf(args.import);
      const names = {
        cost: imported.get('cost') ?? (isCost ? ns : `${ns}__cost`),
        listSize: imported.get('listSize') ?? `${ns}__listSize`,
      };
      if (isCost) return names;
      federation = names;
    }
  }
  return federation ?? { cost: 'cost', listSize: 'listSize' };
}

/** `import: ["@listSize", { name: "@cost", as: "@weight" }]` → listSize → listSize, cost → weight. */
function importsOf(value: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(value)) return out;
  for (const item of value) {
    const name: unknown = typeof item === 'object' && item ? (item as { name?: unknown }).name : item;
    const as: unknown = typeof item === 'object' && item ? ((item as { as?: unknown }).as ?? name) : item;
    if (typeof name === 'string' && typeof as === 'string' && name.startsWith('@') && as.startsWith('@'))
      out.set(name.slice(1), as.slice(1));
  }
  return out;
}

function directive(
  directives: readonly DirectiveNode[] | undefined,
  name: string,
): Record<string, unknown> | undefined {
  const d = directives?.find((x) => x.name.value === name);
  if (!d) return undefined;
  return Object.fromEntries((d.arguments ?? []).map((a) => [a.name.value, valueFromASTUntyped(a.value)]));
}

/** A weight or size: a non-negative integer (IBM's spec writes weights as strings: "2" is read too). */
function count(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function weightOf(directives: readonly DirectiveNode[] | undefined, name: string): number | undefined {
  return count(directive(directives, name)?.weight);
}

/** A `[String!]` argument: a list, or one string (GraphQL's input coercion reads `"first"` as `["first"]`). */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function listSizeOf(def: FieldDefinitionNode, name: string): ListSize | undefined {
  const args = directive(def.directives, name);
  if (!args) return undefined;
  const slicingArguments = strings(args.slicingArguments);
  const slicingDefaults = new Map<string, number>();
  for (const arg of def.arguments ?? []) {
    const d = arg.defaultValue ? count(valueFromASTUntyped(arg.defaultValue)) : undefined;
    if (d !== undefined && slicingArguments.includes(arg.name.value)) slicingDefaults.set(arg.name.value, d);
  }
  const sized = strings(args.sizedFields);
  const assumedSize = count(args.assumedSize);
  return {
    ...(assumedSize !== undefined ? { assumedSize } : {}),
    slicingArguments,
    slicingDefaults,
    ...(sized.length ? { sizedFields: new Set(sized) } : {}),
    requireOneSlicingArgument: args.requireOneSlicingArgument !== false,
  };
}

function namedType(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type);
}
