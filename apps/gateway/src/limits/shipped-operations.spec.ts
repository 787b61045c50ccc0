import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Kind, parse, validate, type DefinitionNode, type DocumentNode } from 'graphql';
import { measureOperation } from '#libs/graphql-cost';
import { REPO_ROOT } from '#libs/testing';
import { PAGE_QUERY } from '../../../../bench/reads-support/page-query.js';
import { DEFAULT_GUARD_LIMITS, supergraphRuntime } from './test/guard-fixtures.js';

/**
 * Every operation we ship (the console, examples/, bench/, the docs and READMEs, the e2e specs) stays within
 * the gateway's default cost limit as the gateway counts it, with the supergraph's @cost/@listSize: a client
 * that copies one of them is not refused. Operations written to be refused are named below. What a document
 * costs: `QUERY_COST_REPORT=1` prints each one's cost with and without the directives.
 */
const SOURCES = ['apps/gateway/src/console/browser', 'examples', 'bench', 'test/e2e', 'docs'];
const READMES = ['README.md', 'apps/gateway/README.md', 'apps/jobs-subgraph/README.md', 'bench/README.md'];
/** Documents that exist to be refused for their cost (a substring of each). */
const REFUSED_ON_PURPOSE = ['jobs(first: 100000)', 'OVER_COST:'];

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(REPO_ROOT, dir))) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'generated' || name === 'gql') continue;
    if (statSync(join(REPO_ROOT, path)).isDirectory()) out.push(...files(path));
    else if (/\.(ts|tsx|graphql|md)$/.test(name)) out.push(path);
  }
  return out;
}

/** GraphQL texts in a file: a .graphql whole, ```graphql blocks, string literals that parse as operations. */
function texts(path: string): string[] {
  const source = readFileSync(join(REPO_ROOT, path), 'utf8');
  if (path.endsWith('.graphql')) return [source];
  if (path.endsWith('.md')) return [...source.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const literals = [
    ...[...source.matchAll(/`([^`]*)`/g)].map((m) => m[1]!).filter((t) => !t.includes('${')),
    ...[...source.matchAll(/'((?:[^'\\\n]|\\.)*)'/g)].map((m) => m[1]!),
  ];
  return literals.filter((t) => /^\s*(query|mutation|subscription|fragment|\{)[\s\S]*\}\s*$/.test(t));
}

interface Shipped {
  where: string;
  name: string;
  document: DocumentNode;
  text: string;
}

/** Documents built in code (a template with `${…}`), which the text scan skips. */
const BUILT: [string, string][] = [['bench/reads-support/page-query.ts', PAGE_QUERY]];

function shippedOperations(): Shipped[] {
  const { apiGraphQLSchema } = supergraphRuntime();
  const out: Shipped[] = [];
  for (const path of [...SOURCES.flatMap(files), ...READMES]) {
    const found = [...texts(path), ...BUILT.filter(([p]) => p === path).map(([, t]) => t)]
      .map((text) => {
        try {
          return { text, document: parse(text) };
        } catch {
          return null; // not GraphQL after all (or a fragment of a document built in code)
        }
      })
      .filter((d) => d !== null);
    // a file's fragments serve its operations (the console defines them apart)
    const fragments: DefinitionNode[] = found.flatMap((d) =>
      d.document.definitions.filter((x) => x.kind === Kind.FRAGMENT_DEFINITION),
    );
    for (const { text, document } of found) {
      for (const op of document.definitions) {
        if (op.kind !== Kind.OPERATION_DEFINITION) continue;
        const names = new Set<string>();
        const doc: DocumentNode = {
          kind: Kind.DOCUMENT,
          definitions: [
            op,
            ...fragments.filter((f) => {
              const n = (f as { name: { value: string } }).name.value;
              return !names.has(n) && names.add(n);
            }),
          ],
        };
        // only documents of our API (tests also hold other schemas' documents, and invalid ones on purpose)
        const errors = validate(apiGraphQLSchema, doc).filter(
          (e) => !/Fragment ".*" is never used/.test(e.message),
        );
        if (errors.length) continue;
        out.push({
          where: relative(REPO_ROOT, join(REPO_ROOT, path)),
          name: op.name?.value ?? '(anonymous)',
          document: doc,
          text,
        });
      }
    }
  }
  return out;
}

describe('the operations we ship', () => {
  const runtime = supergraphRuntime();
  const operations = shippedOperations();

  it('are found (console, examples, bench, docs, e2e)', () => {
    const where = new Set(operations.map((o) => o.where.split('/')[0]));
    expect([...where].sort()).toEqual(
      expect.arrayContaining(['README.md', 'apps', 'bench', 'examples', 'test']),
    );
    expect(operations.some((o) => o.name === 'ConsoleJob')).toBe(true);
    expect(operations.some((o) => o.name === 'Page')).toBe(true);
  });

  it(`stay within the default cost limit (${DEFAULT_GUARD_LIMITS.maxCost}) with the supergraph's cost directives`, () => {
    const over: string[] = [];
    const unlimited = { ...DEFAULT_GUARD_LIMITS, maxCost: Number.MAX_SAFE_INTEGER };
    // a page size sent as a variable: the largest the subgraphs take (JOBS_PAGE_MAX, JOB_ARTIFACTS_PAGE_MAX)
    const vars = { first: 100 };
    for (const o of operations) {
      if (process.env.QUERY_COST_REPORT) {
        const blind = measureOperation(runtime.apiGraphQLSchema, o.document, undefined, vars, unlimited);
        const counted = measureOperation(
          runtime.apiGraphQLSchema,
          o.document,
          undefined,
          vars,
          unlimited,
          runtime.costs,
        );
        process.stderr.write(`${o.where} ${o.name}: ${blind?.report?.cost} → ${counted?.report?.cost}\n`);
      }
      if (REFUSED_ON_PURPOSE.some((s) => o.text.includes(s))) continue;
      const r = measureOperation(
        runtime.apiGraphQLSchema,
        o.document,
        undefined,
        vars,
        DEFAULT_GUARD_LIMITS,
        runtime.costs,
      );
      if (r?.violation) over.push(`${o.where} ${o.name}: ${r.violation.limit} ${r.violation.actual}`);
    }
    expect(over).toEqual([]);
  });
});
