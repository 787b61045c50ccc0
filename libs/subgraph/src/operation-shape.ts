import {
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** What OPERATION_LIMITS (#libs/contracts) bounds in one operation. */
export interface OperationShape {
  /** Fields at the operation's top level, through fragments. */
  rootFields: number;
  /** Aliased fields at every level, each fragment counted at every spread. */
  aliases: number;
}

/** Counts saturate here: a 2^n fragment bomb must not reach Infinity. */
const CAP = Number.MAX_SAFE_INTEGER;
const sat = (n: number) => (n > CAP ? CAP : n);

interface Counts {
  fields: number;
  aliases: number;
}

/**
 * Root fields and aliases of an operation, counted as our gateway counts them (its query-complexity walk). Each
 * fragment is counted once and reused at every spread, so the work is linear in the document even when fragments
 * spread each other exponentially; a fragment met again while being counted (a cycle, which validation refuses)
 * or an unknown one counts nothing.
 */
export function operationShape(document: DocumentNode, operation: OperationDefinitionNode): OperationShape {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION && !fragments.has(d.name.value)) fragments.set(d.name.value, d);
  /** name → counts; `null` while being counted. */
  const memo = new Map<string, Counts | null>();
  const none: Counts = { fields: 0, aliases: 0 };

  const fragment = (name: string): Counts => {
    const known = memo.get(name);
    if (known !== undefined) return known ?? none;
    const definition = fragments.get(name);
    if (!definition) return none;
    memo.set(name, null);
    const counts = count(definition.selectionSet);
    memo.set(name, counts);
    return counts;
  };

  const count = (set: SelectionSetNode): Counts => {
    let fields = 0;
    let aliases = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        fields++;
        if (sel.alias) aliases++;
        if (sel.selectionSet) aliases = sat(aliases + count(sel.selectionSet).aliases);
        continue;
      }
      const child = sel.kind === Kind.INLINE_FRAGMENT ? count(sel.selectionSet) : fragment(sel.name.value);
      fields = sat(fields + child.fields);
      aliases = sat(aliases + child.aliases);
    }
    return { fields, aliases };
  };

  const root = count(operation.selectionSet);
  return { rootFields: root.fields, aliases: root.aliases };
}
