import { buildSchema, parse } from 'graphql';
import { measureOperation, type ComplexityLimits } from './query-complexity.js';
import { cpuMs, EXPONENTIAL_WALK_MS, fragmentBomb } from './test/guard-fixtures.js';

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
