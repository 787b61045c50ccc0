import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { operationShape } from './operation-shape.js';

const shape = (query: string) => {
  const document = parse(query);
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  )!;
  return operationShape(document, operation);
};

describe('operationShape (root fields and aliases of a direct caller operation)', () => {
  it('counts top-level fields as root fields and aliases at every level', () => {
    expect(shape('{ a b c: d { e: f g } }')).toEqual({ rootFields: 3, aliases: 2 });
    expect(shape('mutation { a: submitJob { id } b: submitJob { id } }')).toEqual({
      rootFields: 2,
      aliases: 2,
    });
  });

  it('counts a fragment at every spread, through inline fragments', () => {
    expect(shape('{ ...F ... on Query { ...F x } } fragment F on Query { a: f b: f }')).toEqual({
      rootFields: 5,
      aliases: 4,
    });
  });

  it('stays linear and finite on a fragment bomb', () => {
    const levels = 60;
    const fragments = Array.from({ length: levels }, (_, i) =>
      i === levels - 1 ? `fragment F${i} on Q { a: x }` : `fragment F${i} on Q { ...F${i + 1} ...F${i + 1} }`,
    ).join(' ');
    const started = Date.now();
    const s = shape(`{ ...F0 } ${fragments}`);
    // linear: milliseconds; the bomb walked naively is 2^60 spreads (never ends). 1 s leaves room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(s.aliases).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('counts nothing for an unknown or cyclic fragment (validation refuses both)', () => {
    expect(shape('{ ...Nope a }')).toEqual({ rootFields: 1, aliases: 0 });
    expect(shape('{ ...A } fragment A on Q { x: y ...A }')).toEqual({ rootFields: 1, aliases: 1 });
  });
});
