import { buildSchema, parse } from 'graphql';
import { complexityViolations, measureOperation, type ComplexityLimits } from './query-complexity.js';

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
  defaultListSize: 10,
};
const measure = (q: string, vars?: Record<string, unknown>) =>
  measureOperation(schema, parse(q), undefined, vars, limits.defaultListSize)!;

describe('query complexity', () => {
  it('measures depth through fragments', () => {
    const r = measure('{ node(id: 1) { ...F } } fragment F on Node { parent { parent { id } } }');
    expect(r.depth).toBe(4);
    expect(complexityViolations(r, limits)).toEqual([]);
    const deep = measure('{ node(id: 1) { parent { parent { parent { id } } } } }');
    expect(complexityViolations(deep, limits)).toEqual([{ limit: 'maxDepth', actual: 5, max: 4 }]);
  });

  it('counts aliases and root fields', () => {
    const r = measure('{ a: ping b: ping c: ping d: ping }');
    expect(r).toMatchObject({ aliases: 4, rootFields: 4 });
    expect(complexityViolations(r, limits).map((v) => v.limit)).toEqual(['maxAliases', 'maxRootFields']);
  });

  it('multiplies cost by list sizes, using `first` when given (also from variables)', () => {
    // nodes(1) + edges(1) + 10 × (id + children) + 10 × 10 × id  = 2 + 20 + 100
    expect(measure('{ nodes { edges { id children { id } } } }').cost).toBe(122);
    // nodes(1) + 2 × edges + 2 × id: a connection's edges are sized by its `first`
    expect(measure('query ($n: Int) { nodes(first: $n) { edges { id } } }', { n: 2 }).cost).toBe(5);
    expect(complexityViolations(measure('{ nodes(first: 1000) { edges { id } } }'), limits)[0]).toMatchObject(
      { limit: 'maxCost', actual: 2001 },
    );
    expect(
      complexityViolations(measure('{ nodes { edges { children { children { id } } } } }'), limits).map(
        (v) => v.limit,
      ),
    ).toEqual(['maxDepth', 'maxCost']);
  });

  it('survives a fragment cycle (left for validation to reject)', () => {
    const r = measure('{ node(id: 1) { ...A } } fragment A on Node { parent { ...A } }');
    expect(r.depth).toBeGreaterThan(0);
  });

  it('returns null when the operation cannot be picked', () => {
    expect(
      measureOperation(schema, parse('query A { ping } query B { ping }'), undefined, {}, 10),
    ).toBeNull();
    expect(measureOperation(schema, parse('query A { ping } query B { ping }'), 'B', {}, 10)).not.toBeNull();
  });
});
