import {
  ArgumentNode,
  FieldNode,
  getNamedType,
  GraphQLSchema,
  Kind,
  OperationDefinitionNode,
  parse,
  print,
  SelectionNode,
  valueFromASTUntyped,
  VariableDefinitionNode,
  visit,
} from 'graphql';

/** How one root subscription field resumes. */
export interface FieldResumePolicy {
  /** The argument that starts the stream right after an event's cursor, if any. */
  afterArgument?: string;
  /** The event field whose value that argument takes (default: the policy's cursorField). */
  cursorField?: string;
  /** Without that argument the stream starts now (live only), not at its beginning: nothing to replay to joiners. */
  liveWithoutAfter?: boolean;
  /**
   * A Query field of the same subgraph whose value is a cursor for where the stream stands now. A live stream
   * (no `afterArgument` given) is started `after` it, so one that reconnects or moves before its first event
   * resumes from there rather than from "now" (which would lose what came in between).
   */
  headQuery?: string;
}

/**
 * How the forwarder tells events apart and resumes a stream. For Switchyard's JobEvent: `seq` is per
 * job (`jobId`); `cursor` goes back as jobEvents' `after`, `feedCursor` as jobFeed's.
 */
export interface ResumePolicy {
  /** Root subscription fields whose events carry seq/cursor, and how each resumes. */
  fields: Record<string, FieldResumePolicy>;
  cursorField: string;
  seqField: string;
  streamField: string;
  typeField: string;
  nodeField: string;
}

export const JOB_EVENT_RESUME_POLICY: ResumePolicy = {
  fields: {
    jobEvents: { afterArgument: 'after' },
    jobFeed: {
      afterArgument: 'after',
      cursorField: 'feedCursor',
      liveWithoutAfter: true,
      headQuery: 'jobFeedHead',
    },
  },
  cursorField: 'cursor',
  seqField: 'seq',
  streamField: 'jobId',
  typeField: 'type',
  nodeField: 'nodeId',
};

/** Aliases of the fields the forwarder adds for itself; result shaping drops them before the client sees them. */
export const HIDDEN = {
  cursor: '_syCursor',
  seq: '_sySeq',
  stream: '_syStream',
  type: '_syType',
  node: '_syNode',
} as const;
export const RESUME_VARIABLE = '_syAfter';

export interface UpstreamOperation {
  query: string;
  /** Response key of the root field in the upstream result. */
  rootKey: string;
  /** Whether events carry the hidden seq/cursor fields (the root field is in the policy). */
  tracked: boolean;
  /** Whether `variables[RESUME_VARIABLE]` moves the stream's start (the field has a resume argument). */
  resumable: boolean;
  /** Initial value of the resume variable (what the client asked for). */
  initialAfter: unknown;
  /** Whether the stream starts at a position (not "now"): a late joiner of a shared one needs what came before. */
  replayable: boolean;
  /** The client variable that gives the resume argument, if one does (it decides `replayable` per request). */
  afterVariable?: string;
  /**
   * A live stream with a head query: its `{ data: { [field]: cursor } }` is the resume variable's first value,
   * read before subscribing (see FieldResumePolicy.headQuery).
   */
  head?: { query: string; field: string };
}

/**
 * The policy as far as a supergraph supports it: a field whose resume argument or cursor field the supergraph
 * lacks (composed from subgraphs older than the policy) is only de-duplicated, as before they had them; one whose
 * head query it lacks resumes from its events' cursors only (a live stream starts "now").
 */
export function supportedPolicy(policy: ResumePolicy, schema: GraphQLSchema): ResumePolicy {
  const rootFields = schema.getSubscriptionType()?.getFields() ?? {};
  const queryFields = schema.getQueryType()?.getFields() ?? {};
  const fields: Record<string, FieldResumePolicy> = {};
  for (const [name, field] of Object.entries(policy.fields)) {
    const def = rootFields[name];
    const eventType = def ? getNamedType(def.type) : undefined;
    const eventFields = eventType && 'getFields' in eventType ? eventType.getFields() : {};
    const supported =
      !field.afterArgument ||
      (def?.args.some((a) => a.name === field.afterArgument) &&
        (field.cursorField ?? policy.cursorField) in eventFields);
    const { headQuery, ...withoutHead } = field;
    if (!supported) fields[name] = {};
    else fields[name] = headQuery && !(headQuery in queryFields) ? withoutHead : field;
  }
  return { ...policy, fields };
}

/**
 * Rewrites the primary fetch of a subscription plan so the forwarder can de-duplicate and resume: adds
 * the hidden seq/cursor/stream/type/node selections, and routes the resume argument through a variable
 * the forwarder controls (so a reconnect can restart right after the last delivered event).
 */
export function makeResumable(
  fetchOperation: string,
  clientVariables: Record<string, unknown> | undefined,
  policy: ResumePolicy,
): UpstreamOperation {
  const doc = parse(fetchOperation);
  const op = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (!op) throw new Error('subscription fetch has no operation');
  const root = op.selectionSet.selections.find(
    (s): s is FieldNode => s.kind === Kind.FIELD && s.name.value !== '__typename',
  );
  if (!root) throw new Error('subscription fetch has no root field');
  const rootKey = root.alias?.value ?? root.name.value;
  const fieldPolicy = policy.fields[root.name.value];
  if (!fieldPolicy || !root.selectionSet)
    return {
      query: fetchOperation,
      rootKey,
      tracked: false,
      resumable: false,
      initialAfter: undefined,
      replayable: false,
    };

  const hidden: [string, string][] = [
    [HIDDEN.cursor, fieldPolicy.cursorField ?? policy.cursorField],
    [HIDDEN.seq, policy.seqField],
    [HIDDEN.stream, policy.streamField],
    [HIDDEN.type, policy.typeField],
    [HIDDEN.node, policy.nodeField],
  ];
  const extraSelections: SelectionNode[] = hidden.map(([alias, name]) => ({
    kind: Kind.FIELD,
    alias: { kind: Kind.NAME, value: alias },
    name: { kind: Kind.NAME, value: name },
  }));

  let args = root.arguments ?? [];
  let variableDefinitions = op.variableDefinitions ?? [];
  let initialAfter: unknown;
  let afterVariable: string | undefined;
  const afterArgument = fieldPolicy.afterArgument;
  if (afterArgument) {
    const existing = args.find((a) => a.name.value === afterArgument);
    initialAfter = existing ? valueFromASTUntyped(existing.value, clientVariables) : undefined;
    if (existing?.value.kind === Kind.VARIABLE) afterVariable = existing.value.name.value;
    const replaced: ArgumentNode = {
      kind: Kind.ARGUMENT,
      name: { kind: Kind.NAME, value: afterArgument },
      value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: RESUME_VARIABLE } },
    };
    args = [...args.filter((a) => a.name.value !== afterArgument), replaced];
    const definition: VariableDefinitionNode = {
      kind: Kind.VARIABLE_DEFINITION,
      variable: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: RESUME_VARIABLE } },
      type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'String' } },
    };
    variableDefinitions = [...variableDefinitions, definition];
  }

  const newRoot: FieldNode = {
    ...root,
    arguments: args,
    selectionSet: { ...root.selectionSet, selections: [...root.selectionSet.selections, ...extraSelections] },
  };
  // A client variable that only fed the replaced argument is now unused, which the subgraph would reject.
  const used = new Set<string>();
  visit(
    { ...op.selectionSet, selections: op.selectionSet.selections.map((s) => (s === root ? newRoot : s)) },
    {
      Variable: (v) => void used.add(v.name.value),
    },
  );
  const newOp: OperationDefinitionNode = {
    ...op,
    variableDefinitions: variableDefinitions.filter((d) => used.has(d.variable.name.value)),
    selectionSet: {
      ...op.selectionSet,
      selections: op.selectionSet.selections.map((s) => (s === root ? newRoot : s)),
    },
  };
  const query = print({ ...doc, definitions: doc.definitions.map((d) => (d === op ? newOp : d)) });
  const resumable = !!afterArgument;
  const live = initialAfter == null;
  const replayable = resumable && !(fieldPolicy.liveWithoutAfter && live);
  const headField = resumable && live ? fieldPolicy.headQuery : undefined;
  const head = headField
    ? { query: `query SwitchyardStreamHead { ${headField} }`, field: headField }
    : undefined;
  return { query, rootKey, tracked: true, resumable, initialAfter, replayable, afterVariable, head };
}
