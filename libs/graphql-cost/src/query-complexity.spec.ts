import { buildSchema, parse } from 'graphql';
import { CostDirectives } from './cost-directives.js';
import { measureOperation, type ComplexityLimits } from './query-complexity.js';
import { cpuMs, EXPONENTIAL_WALK_MS, fragmentBomb } from '#libs/testing';

const schema = buildSchema(`
  type Node { id: ID! children: [Node!]! parent: Node }
  type Connection { edges: [Node!]! }
  type Query { node(id: ID!): Node nodes(first: Int): Connection! ping: String }
`);
const limits: ComplexityLimits = {
  maxDepth: 4,
  maxAliases: 2,
  maxRootFields: 3,
  maxCost: 100,
  maxSelections: 1_000,
  maxDirectives: 5,
  defaultListSize: 10,
};
const open: ComplexityLimits = {
  ...limits,
  maxDepth: Number.MAX_SAFE_INTEGER,
  maxAliases: Number.MAX_SAFE_INTEGER,
  maxRootFields: Number.MAX_SAFE_INTEGER,
  maxCost: Number.MAX_SAFE_INTEGER,
  maxSelections: Number.MAX_SAFE_INTEGER,
  maxDirectives: Number.MAX_SAFE_INTEGER,
};
const measure = (q: string, vars?: Record<string, unknown>, l = open) =>
  measureOperation(schema, parse(q), undefined, vars, l)!;
const violation = (q: string, vars?: Record<string, unknown>) => measure(q, vars, limits).violation;

describe('query complexity', () => {
  it('measures depth through fragments', () => {
    const r = measure('{ node(id: 1) { ...F } } fragment F on Node { parent { parent { id } } }');
    expect(r.report?.depth).toBe(4);
    expect(
      violation('{ node(id: 1) { ...F } } fragment F on Node { parent { parent { id } } }'),
    ).toBeUndefined();
    expect(violation('{ node(id: 1) { parent { parent { parent { id } } } } }')).toEqual({
      limit: 'maxDepth',
      actual: 5,
      max: 4,
    });
  });

  it('counts aliases and root fields, and stops at the first limit exceeded', () => {
    expect(measure('{ a: ping b: ping c: ping d: ping }').report).toMatchObject({
      aliases: 4,
      rootFields: 4,
    });
    expect(violation('{ a: ping b: ping c: ping d: ping }')).toMatchObject({ limit: 'maxAliases' });
    expect(violation('{ ping ping ping ping }')).toMatchObject({ limit: 'maxRootFields', actual: 4 });
    // Root fields through a fragment count as root fields.
    expect(violation('{ ...Q } fragment Q on Query { ping ping ping ping }')).toMatchObject({
      limit: 'maxRootFields',
    });
  });

  it('multiplies cost by list sizes, using `first` when given (also from variables)', () => {
    // nodes(1) + edges(1) + 10 × (id + children) + 10 × 10 × id  = 2 + 20 + 100
    expect(measure('{ nodes { edges { id children { id } } } }').report?.cost).toBe(122);
    // The same through fragments (each measured once, reused).
    expect(
      measure(
        '{ nodes { ...E } } fragment E on Connection { edges { id ...C } } fragment C on Node { children { id } }',
      ).report?.cost,
    ).toBe(122);
    // nodes(1) + 2 × edges + 2 × id: a connection's edges are sized by its `first`
    expect(measure('query ($n: Int) { nodes(first: $n) { edges { id } } }', { n: 2 }).report?.cost).toBe(5);
    expect(violation('{ nodes(first: 1000) { edges { id } } }')).toMatchObject({
      limit: 'maxCost',
      actual: 2001,
    });
  });

  it('sizes a field without directives by the larger of `first` and `last`, and by a variable’s default', () => {
    const both = buildSchema(`
      type Node { id: ID! }
      type Connection { edges: [Node!]! }
      type Query { nodes(first: Int, last: Int): Connection! }
    `);
    const m = (q: string, vars?: Record<string, unknown>) =>
      measureOperation(both, parse(q), undefined, vars, open)!.report?.cost;
    // nodes 1 + 500 × (edges + id), whichever of the two is written first
    expect(m('{ nodes(first: 1, last: 500) { edges { id } } }')).toBe(1 + 500 * 2);
    expect(m('{ nodes(last: 500, first: 1) { edges { id } } }')).toBe(1 + 500 * 2);
    expect(m('query ($n: Int = 500) { nodes(first: $n) { edges { id } } }', {})).toBe(1 + 500 * 2);
  });

  it('counts expanded selections and directives', () => {
    const r = measure('{ ...A ...A } fragment A on Query { ping @skip(if: false) node(id: 1) { id } }');
    // per A: ping, node, id = 3 selections, 1 directive; twice, plus the 2 spreads
    expect(r.report).toMatchObject({ selections: 8, directives: 2 });
    expect(
      measure(
        '{ ...A ...A ...A } fragment A on Query { ping @skip(if: false) @include(if: true) }',
        undefined,
        limits,
      ).violation,
    ).toMatchObject({ limit: 'maxDirectives', actual: 6 });
  });

  it('reports a fragment cycle instead of following it', () => {
    expect(measure('{ node(id: 1) { ...A } } fragment A on Node { parent { ...A } }').cycle).toBe('A');
    expect(measure('{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }').cycle).toBeDefined();
  });

  it('returns null when the operation cannot be picked', () => {
    expect(
      measureOperation(schema, parse('query A { ping } query B { ping }'), undefined, {}, limits),
    ).toBeNull();
    expect(
      measureOperation(schema, parse('query A { ping } query B { ping }'), 'B', {}, limits),
    ).not.toBeNull();
  });

  it('measures the 41-fragment bomb of issue 9 once per fragment: refused at once, exact when unbounded', () => {
    const doc = parse(fragmentBomb());
    // The old walk took 2^40 steps here.
    let refused;
    expect(
      cpuMs(
        () => (refused = measureOperation(schema, doc, undefined, {}, { ...limits, maxSelections: 10_000 })),
      ),
    ).toBeLessThan(EXPONENTIAL_WALK_MS);
    expect(refused!.violation).toMatchObject({ limit: 'maxSelections' });
    // Without limits the walk still ends at once and counts all 2^40 expansions of F40's __typename.
    let full;
    expect(cpuMs(() => (full = measureOperation(schema, doc, undefined, {}, open)!))).toBeLessThan(
      EXPONENTIAL_WALK_MS,
    );
    expect(full!.report?.rootFields).toBe(2 ** 40);
    // F40: 1 selection; F(k): 2 spreads + twice F(k+1) → 3·2^40 − 2 for F0, plus the operation's spread.
    expect(full!.report?.selections).toBe(3 * 2 ** 40 - 1);
  });

  it('saturates instead of overflowing: 3^1000 expansions under `first: 0` are still refused', () => {
    const parts = ['{ nodes(first: 0) { edges { ...F0 } } }'];
    for (let i = 0; i < 999; i++)
      parts.push(`fragment F${i} on Node { ...F${i + 1} ...F${i + 1} ...F${i + 1} }`);
    parts.push('fragment F999 on Node { id }');
    const r = measureOperation(schema, parse(parts.join('\n')), undefined, {}, open)!;
    expect(r.report?.selections).toBe(Number.MAX_SAFE_INTEGER);
    expect(measureOperation(schema, parse(parts.join('\n')), undefined, {}, limits)?.violation).toBeDefined();
  });
});

describe('query complexity with the schema’s cost directives (@cost, @listSize)', () => {
  const sdl = `
    directive @cost(weight: Int!) on FIELD_DEFINITION | ARGUMENT_DEFINITION | OBJECT | SCALAR | ENUM
    directive @listSize(
      assumedSize: Int
      slicingArguments: [String!]
      sizedFields: [String!]
      requireOneSlicingArgument: Boolean = true
    ) on FIELD_DEFINITION
    type Item { id: ID! price: Int @cost(weight: 4) tags: [String!]! }
    type ItemEdge { cursor: String! node: Item! }
    type PageInfo { hasNextPage: Boolean! }
    type ItemConnection { edges: [ItemEdge!]! pageInfo: PageInfo! }
    type Shelf {
      items: [Item!]! @listSize(assumedSize: 50)
      page(first: Int, last: Int, after: String): ItemConnection!
        @listSize(assumedSize: 15, slicingArguments: ["first", "last"], sizedFields: ["edges"], requireOneSlicingArgument: false)
      plain: [Item!]!
    }
    type Query {
      shelf: Shelf
      shelves: [Shelf!]! @listSize(assumedSize: 3)
      search(limit: Int = 30, expensive: Boolean @cost(weight: 8)): [Item!]! @listSize(slicingArguments: ["limit"])
      byIds(ids: [ID!]!): [Item]! @listSize(slicingArguments: ["ids"])
    }
    type Mutation {
      buy(id: ID!): Item! @cost(weight: 10)
      buyMany(ids: [ID!]!): [Item!]! @cost(weight: 10) @listSize(assumedSize: 100)
    }
  `;
  const schema2 = buildSchema(sdl);
  const costs = CostDirectives.fromSdl(sdl);
  const cost = (q: string, vars?: Record<string, unknown>, withCosts = true) =>
    measureOperation(schema2, parse(q), undefined, vars, open, withCosts ? costs : undefined)!.report?.cost;

  it('uses assumedSize instead of the default list size (10 here)', () => {
    // shelf 1 + items 1 + 50 × id
    expect(cost('{ shelf { items { id } } }')).toBe(52);
    // a list without @listSize keeps the default
    expect(cost('{ shelf { plain { id } } }')).toBe(12);
    // nested: shelves 1 + 3 × (items 1 + 50 × id)
    expect(cost('{ shelves { items { id } } }')).toBe(1 + 3 * 51);
  });

  it('sizes from slicing arguments (a literal, a variable, the largest of two, the default) else assumedSize', () => {
    // page 1 + pageInfo(1 + 1) + edges 1 + 7 × (cursor + node + id): the size applies to `edges`, not `pageInfo`
    expect(
      cost('{ shelf { page(first: 7) { edges { cursor node { id } } pageInfo { hasNextPage } } } }'),
    ).toBe(1 + 1 + 2 + 1 + 7 * 3);
    const q = 'query ($n: Int) { shelf { page(first: $n) { edges { node { id } } } } }';
    expect(cost(q, { n: 40 })).toBe(1 + 1 + 1 + 40 * 2);
    // the variable absent: assumedSize
    expect(cost(q, {})).toBe(1 + 1 + 1 + 15 * 2);
    // a fraction (not an Int: refused later) counts as the next whole size
    expect(cost(q, { n: 2.5 })).toBe(1 + 1 + 1 + 3 * 2);
    expect(cost('{ shelf { page(first: 2, last: 9) { edges { node { id } } } } }')).toBe(1 + 1 + 1 + 9 * 2);
    // a list given to a slicing argument counts its items (as `_entities(representations:)` at a subgraph)
    expect(cost('{ byIds(ids: [1, 2, 3]) { id } }')).toBe(1 + 3);
    expect(cost('query ($ids: [ID!]!) { byIds(ids: $ids) { id } }', { ids: Array(40).fill('x') })).toBe(
      1 + 40,
    );
    // an argument default counts when the argument is not given: search(limit = 30)
    expect(cost('{ search { id } }')).toBe(1 + 30);
    expect(cost('{ search(limit: 4) { id } }')).toBe(1 + 4);
    // a huge slicing value saturates and is refused, it does not wrap around
    expect(
      measureOperation(schema2, parse('{ search(limit: 2147483647) { id } }'), undefined, {}, limits, costs)!
        .violation,
    ).toMatchObject({ limit: 'maxCost' });
  });

  it('sizes a slicing variable as execution will: its default when not sent, else the argument’s default', () => {
    // `$n = 40` not sent: the field gets 40 (coerced variable values take the variable's default)
    const withDefault = 'query ($n: Int = 40) { shelf { page(first: $n) { edges { node { id } } } } }';
    expect(cost(withDefault, {})).toBe(1 + 1 + 1 + 40 * 2);
    expect(cost(withDefault)).toBe(1 + 1 + 1 + 40 * 2);
    // sent: its value, even a smaller one
    expect(cost(withDefault, { n: 2 })).toBe(1 + 1 + 1 + 2 * 2);
    // not sent and without a default: the argument is not given, so its own default counts (search(limit = 30))
    expect(cost('query ($n: Int) { search(limit: $n) { id } }', {})).toBe(1 + 30);
    expect(cost('query ($n: Int = 7) { search(limit: $n) { id } }', {})).toBe(1 + 7);
    // sent as null: execution passes null (no size): assumedSize, else the default list size
    expect(
      cost('query ($n: Int = 40) { shelf { page(first: $n) { edges { node { id } } } } }', { n: null }),
    ).toBe(1 + 1 + 1 + 15 * 2);
    // a variable default is just as much a variable's: not reused for other variables
    expect(
      measureOperation(schema2, parse(withDefault), undefined, {}, open, costs)!.dependsOnVariables,
    ).toBe(true);
  });

  it('replaces a field’s weight with its @cost (mutations, leaves) and adds given arguments’ @cost', () => {
    expect(cost('mutation { buy(id: 1) { id } }')).toBe(10 + 1);
    // buyMany 10 + 100 × (id + price 4)
    expect(cost('mutation { buyMany(ids: [1]) { id price } }')).toBe(10 + 100 * 5);
    // a leaf's weight is multiplied by the lists above it: shelf 1 + items 1 + 50 × 4
    expect(cost('{ shelf { items { price } } }')).toBe(2 + 50 * 4);
    expect(cost('{ search(limit: 1, expensive: true) { id } }')).toBe(1 + 8 + 1);
  });

  it('counts far more than the directive-blind walk for the same document', () => {
    const q = '{ shelves { items { price } } }';
    expect(cost(q, undefined, false)).toBe(1 + 10 * (1 + 10 * 1));
    expect(cost(q)).toBe(1 + 3 * (1 + 50 * 4));
  });

  it('applies the sizes the same through fragments and inline fragments, each fragment measured once', () => {
    const direct = cost('{ shelf { page(first: 5) { edges { node { id price } } } items { id } } }');
    expect(
      cost(`{ shelf { ...S } }
        fragment S on Shelf { page(first: 5) { ...P } ... on Shelf { items { ...I } } }
        fragment P on ItemConnection { ...E }
        fragment E on ItemConnection { edges { node { ...I price } } }
        fragment I on Item { id }`),
    ).toBe(direct);
    // one fragment spread under two differently sized connections gets each size
    expect(
      cost(`{ shelf { a: page(first: 2) { ...E } b: page(first: 30) { ...E } } }
        fragment E on ItemConnection { edges { node { id } } }`),
    ).toBe(1 + (1 + 1 + 2 * 2) + (1 + 1 + 30 * 2));
  });

  it('keeps a fragment bomb linear and saturating under sized connections', () => {
    const parts = ['{ shelf { page(first: 100) { ...F0 } } }'];
    for (let i = 0; i < 40; i++) parts.push(`fragment F${i} on ItemConnection { ...F${i + 1} ...F${i + 1} }`);
    parts.push('fragment F40 on ItemConnection { edges { node { price } } }');
    const doc = parse(parts.join('\n'));
    let full;
    expect(cpuMs(() => (full = measureOperation(schema2, doc, undefined, {}, open, costs)!))).toBeLessThan(
      EXPONENTIAL_WALK_MS,
    );
    // 2^40 × (edges 1 + 100 × (node 1 + price 4)) + shelf + page
    expect(full!.report?.cost).toBe(2 + 2 ** 40 * (1 + 100 * 5));
    const threes = ['{ shelves { items { ...F0 } } }'];
    for (let i = 0; i < 999; i++)
      threes.push(`fragment F${i} on Item { ...F${i + 1} ...F${i + 1} ...F${i + 1} }`);
    threes.push('fragment F999 on Item { price }');
    const r = measureOperation(schema2, parse(threes.join('\n')), undefined, {}, open, costs)!;
    expect(r.report?.cost).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('says whether the result depends on variables (then it must not be reused for other variables)', () => {
    const m = (q: string, vars?: Record<string, unknown>) =>
      measureOperation(schema2, parse(q), undefined, vars, open, costs)!;
    expect(m('query ($n: Int) { search(limit: $n) { id } }', { n: 3 }).dependsOnVariables).toBe(true);
    expect(m('query ($n: Int) { shelf { page(last: $n) { edges { cursor } } } }').dependsOnVariables).toBe(
      true,
    );
    expect(
      m('query ($a: String) { shelf { page(first: 3, after: $a) { edges { cursor } } } }').dependsOnVariables,
    ).toBe(false);
    // without cost directives, `first`/`last` still read variables
    expect(
      measureOperation(
        schema,
        parse('query ($n: Int) { nodes(first: $n) { edges { id } } }'),
        undefined,
        {},
        open,
      )!.dependsOnVariables,
    ).toBe(true);
  });
});
