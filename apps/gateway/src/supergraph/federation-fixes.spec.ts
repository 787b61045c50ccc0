import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { operationFromDocument, Supergraph, VariableCollector } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode } from '@apollo/query-planner';
import { parse } from 'graphql';
import { REPO_ROOT } from '#libs/testing';
import { fixFederationVariableCollection } from './federation-fixes.js';

fixFederationVariableCollection();

/** `[[…[leaf]…]]`, `depth` lists deep, each list wrapped in a proxy that counts reads of its items. */
function countedLists(depth: number, leaf: unknown): { value: unknown; reads: () => number } {
  let reads = 0;
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++)
    value = new Proxy([value], {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
  return { value, reads: () => reads };
}

describe("the planner's search for variables in argument values", () => {
  it('reads each item of a nested list once (the library read them 2^depth times)', () => {
    const { value, reads } = countedLists(20, 1);
    new VariableCollector().collectInArguments({ labels: { a: value } });
    expect(reads()).toBe(20);
  });

  describe('planning the committed supergraph', () => {
    const supergraph = Supergraph.build(readFileSync(join(REPO_ROOT, 'graphql/supergraph.graphql'), 'utf8'));
    const planner = new QueryPlanner(supergraph);
    /** The plan of an operation on the jobs subgraph alone: one fetch. */
    const fetchOf = (query: string) => {
      const node = planner.buildQueryPlan(
        operationFromDocument(supergraph.apiSchema(), parse(query), {}),
      ).node;
      expect(node?.kind).toBe('Fetch');
      return node as FetchNode;
    };

    it('plans a literal argument with lists nested 200 deep (28 deep held the event loop for 43 s)', () => {
      const nested = `${'['.repeat(200)}1${']'.repeat(200)}`;
      const fetch = fetchOf(
        `mutation { submitJob(input: { template: "thumbnail", labels: { a: ${nested} } }) { id } }`,
      );
      expect(fetch.serviceName).toBe('jobs');
      expect(fetch.operation).toContain(nested);
    });

    it('still finds the variables inside nested literals, each declared once, in the order they appear', () => {
      const fetch = fetchOf(
        `mutation($w: Int, $i: String, $unused: Int) { submitJob(input: { template: "thumbnail",
          params: { image: $i, width: $w }, labels: { a: [[[$w]], [$i]] } }) { id } }`,
      );
      expect(fetch.variableUsages).toEqual(['i', 'w']);
      expect(fetch.operation).toMatch(/^mutation\(\$i:String\$w:Int\)/);
    });
  });
});
