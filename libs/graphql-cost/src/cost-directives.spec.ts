import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '#libs/testing';
import { CostDirectives } from './cost-directives.js';

describe('CostDirectives', () => {
  it('reads @cost and @listSize as the committed supergraph declares them (cost link, @listSize imported)', () => {
    const costs = CostDirectives.fromSdl(readFileSync(join(REPO_ROOT, 'graphql/supergraph.graphql'), 'utf8'));
    expect(costs.field('Mutation', 'submitJob')?.weight).toBe(10);
    expect(costs.field('Mutation', 'submitJobs')).toMatchObject({
      weight: 10,
      listSize: { assumedSize: 100 },
    });
    expect(costs.field('Mutation', 'createUpload')?.weight).toBe(5);
    expect(costs.field('Query', 'validateGraph')?.weight).toBe(5);
    expect(costs.field('Artifact', 'downloadUrl')?.weight).toBe(2);
    // every node a job may hold (PLANNER_MAX_NODES at most 200), unless nodes(first:) says fewer
    expect(costs.field('Job', 'nodes')?.listSize).toMatchObject({
      assumedSize: 200,
      slicingArguments: ['first'],
      requireOneSlicingArgument: false,
    });
    expect(costs.field('Job', 'artifacts')?.listSize?.assumedSize).toBe(50);
    for (const f of ['capabilities', 'templates', 'workers'])
      expect(costs.field('Query', f)?.listSize?.assumedSize).toBe(100);
    const jobs = costs.field('Query', 'jobs')!.listSize!;
    expect(jobs.assumedSize).toBe(20);
    expect([...jobs.slicingArguments]).toEqual(['first']);
    expect([...jobs.sizedFields!]).toEqual(['edges']);
    expect(jobs.requireOneSlicingArgument).toBe(false);
    // fields without a directive are not listed: the walk's defaults apply
    expect(costs.field('Job', 'status')).toBeUndefined();
    expect(costs.field('Nope', 'x')).toBeUndefined();
  });

  it('follows a renamed cost link (`as`, imports with `as`) and ignores look-alike directives', () => {
    const costs = CostDirectives.fromSdl(`
      schema @link(url: "https://specs.apollo.dev/link/v1.0")
        @link(url: "https://specs.apollo.dev/cost/v0.1", as: "dc", import: [{ name: "@listSize", as: "@size" }]) {
        query: Query
      }
      directive @dc(weight: Int!) on FIELD_DEFINITION | OBJECT | SCALAR | ENUM | ARGUMENT_DEFINITION
      directive @size(assumedSize: Int) on FIELD_DEFINITION
      directive @cost(weight: Int!) on FIELD_DEFINITION
      directive @listSize(assumedSize: Int) on FIELD_DEFINITION
      scalar Big @dc(weight: 7)
      type Query {
        a: [Int] @size(assumedSize: 3) @dc(weight: 4)
        b: Int @cost(weight: 99) @listSize(assumedSize: 99)
        c: Big
        d(x: Int @dc(weight: 6)): Int
      }
    `);
    expect(costs.field('Query', 'a')).toMatchObject({ weight: 4, listSize: { assumedSize: 3 } });
    expect(costs.field('Query', 'b')).toBeUndefined();
    // a type's @cost is the weight of every field returning it, unless the field says otherwise
    expect(costs.field('Query', 'c')?.weight).toBe(7);
    expect(costs.field('Query', 'd')?.argumentWeights?.get('x')).toBe(6);
  });

  it('reads plain @cost/@listSize when no cost link is declared (a hand-written schema), in extensions too', () => {
    const costs = CostDirectives.fromSdl(`
      type Query { a: Int }
      extend type Query { b(first: Int = 7): [Int] @listSize(slicingArguments: ["first"]) @cost(weight: 3) }
      interface Named { name: String @cost(weight: 2) }
    `);
    expect(costs.field('Query', 'b')).toMatchObject({
      weight: 3,
      listSize: { requireOneSlicingArgument: true, slicingDefaults: new Map([['first', 7]]) },
    });
    expect(costs.field('Named', 'name')?.weight).toBe(2);
  });

  it('reads a list argument written as one string, as GraphQL coerces it ("first" is ["first"])', () => {
    const costs = CostDirectives.fromSdl(`
      type Edge { id: ID }
      type Conn { edges: [Edge] }
      type Query { page(first: Int): Conn @listSize(assumedSize: 5, slicingArguments: "first", sizedFields: "edges") }
    `);
    const page = costs.field('Query', 'page')!.listSize!;
    expect([...page.slicingArguments]).toEqual(['first']);
    expect([...(page.sizedFields ?? [])]).toEqual(['edges']);
  });

  it('ignores weights and sizes that are not non-negative integers', () => {
    const costs = CostDirectives.fromSdl(`
      type Query { a: Int @cost(weight: -5) b: [Int] @listSize(assumedSize: -1) c: Int @cost(weight: "x") }
    `);
    expect(costs.field('Query', 'a')).toBeUndefined();
    expect(costs.field('Query', 'b')?.listSize?.assumedSize).toBeUndefined();
    expect(costs.field('Query', 'c')).toBeUndefined();
  });
});
