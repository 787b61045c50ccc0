import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kind, parse, print, type DefinitionNode } from 'graphql';
import { REPO_ROOT } from '#libs/testing';
import { PAGE_QUERY } from '../../../bench/reads-support/page-query.js';
import {
  codeOf,
  collect,
  gql,
  startGatewayStack,
  wsClient,
  type GatewayStack,
  type GqlResponse,
} from '../gateway-support/gateway-stack.js';

/**
 * 100 jobs, each with its nodes (up to PLANNER_MAX_NODES, at most 200: the schema's @listSize without `first`) and
 * its artifacts (at most 50, each with a presigned downloadUrl of @cost 2). Counted as 20 per list and 1 per field,
 * the gateway let it through (cost 12,601); with the supergraph's directives it costs 80,502.
 */
const HEAVY = `query Heavy($n: Int) {
  jobs(first: $n) { edges { node { id status
    nodes { id status outputs }
    artifacts { id name downloadUrl } } } }
}`;

type Limits = { limit: string; actual: number; max: number }[];
const limitsOf = (r: GqlResponse) => r.body.errors?.[0]?.extensions?.limits as Limits | undefined;

/**
 * A tenant's operation that costs the subgraphs far more than the gateway counted, through real processes
 * (redis, s3rver, both subgraphs, the built gateway): refused with QUERY_TOO_COMPLEX on HTTP (before Apollo,
 * and in Apollo's plugin for a persisted query sent by hash), on graphql-ws, while every operation the
 * console, the examples and the reads benchmark send still answers; a hot-reloaded supergraph's directives
 * take over without a restart.
 */
describe('hostile tenants: the cost limit counts the schema’s @cost and @listSize', () => {
  let stack: GatewayStack;
  let key: string;

  beforeAll(async () => {
    stack = await startGatewayStack({ gatewayEnv: { RATE_LIMIT_BURST: '200' } });
    key = (
      await stack.createKey('tenant-a', ['jobs:read', 'jobs:write', 'artifacts:read', 'artifacts:write'])
    ).key;
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('refuses 100 jobs with their nodes and artifacts over HTTP, whatever the variables say', async () => {
    const heavy = await gql(stack.url, key, HEAVY, { n: 100 });
    expect([heavy.status, codeOf(heavy)]).toEqual([400, 'QUERY_TOO_COMPLEX']);
    expect(limitsOf(heavy)).toEqual([{ limit: 'cost', actual: 80_502, max: 25_000 }]);
    // the same document with a small page is fine: its cost is measured per request
    const small = await gql(stack.url, key, HEAVY, { n: 5 });
    expect([small.status, small.body.errors]).toEqual([200, undefined]);
    // without `first` the connection counts its assumedSize (20): 20 × 805 + 2
    const unsized = await gql(stack.url, key, HEAVY, {});
    expect([unsized.status, unsized.body.errors]).toEqual([200, undefined]);
  });

  it('refuses it in Apollo’s guard too: a persisted query sent by hash skips the document middleware', async () => {
    const sha256Hash = createHash('sha256').update(HEAVY).digest('hex');
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    const post = (body: object) =>
      fetch(stack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as GqlResponse['body'] }));
    // registered with a small page (admitted), then sent by hash alone with a large one
    expect((await post({ query: HEAVY, variables: { n: 1 }, extensions })).body.errors).toBeUndefined();
    const byHash = await post({ variables: { n: 100 }, extensions });
    expect(byHash.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect(byHash.body.errors?.[0]?.extensions?.limits).toEqual([
      { limit: 'cost', actual: 80_502, max: 25_000 },
    ]);
    expect(byHash.body.data ?? null).toBeNull();
  });

  it('refuses it over graphql-ws', async () => {
    const client = wsClient(stack.wsUrl, key);
    try {
      const c = collect(client, HEAVY, { n: 100 });
      expect(await c.done).toBe('error');
      const errors = c.error as { extensions?: { code?: string; limits?: Limits } }[];
      expect(errors[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
      expect(errors[0]?.extensions?.limits?.[0]).toMatchObject({ limit: 'cost', actual: 80_502 });
    } finally {
      await client.dispose();
    }
  });

  it('still answers what the console, the examples and the reads benchmark send', async () => {
    const operations: [string, string, Record<string, unknown>][] = [];
    // the console's documents (browser code, typed by codegen): each operation with the file's fragments
    const blocks = [
      ...readFileSync(join(REPO_ROOT, 'apps/gateway/src/console/browser/documents.ts'), 'utf8').matchAll(
        /graphql\(`([^`]*)`\)/g,
      ),
    ].map((m) => parse(m[1]!).definitions);
    const fragments = blocks.flat().filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
    for (const op of blocks
      .flat()
      .filter(
        (d): d is DefinitionNode & { kind: Kind.OPERATION_DEFINITION } =>
          d.kind === Kind.OPERATION_DEFINITION,
      )) {
      // with the fragments it spreads (an unused one would make the document invalid)
      const used = [op as DefinitionNode];
      for (let i = 0; i < used.length; i++)
        for (const f of fragments)
          if (
            !used.includes(f) &&
            print(used[i]!).includes(`...${(f as { name: { value: string } }).name.value}`)
          )
            used.push(f);
      operations.push([`console ${op.name?.value}`, used.map((d) => print(d)).join('\n'), {}]);
    }
    for (const file of readdirSync(join(REPO_ROOT, 'examples/operations')))
      operations.push([
        `examples ${file}`,
        readFileSync(join(REPO_ROOT, 'examples/operations', file), 'utf8'),
        {},
      ]);
    operations.push(['bench PAGE_QUERY', PAGE_QUERY, {}]);
    const variables: Record<string, unknown> = {
      id: 'no-such-job',
      artifactId: 'no-such-artifact',
      jobId: 'no-such-job',
      first: 100,
    };
    const inputs: Record<string, unknown> = {
      CreateUploadInput: { name: 'a.png', contentType: 'image/png', size: 1 },
      SubmitJobInput: { template: 'no-such-template' },
    };
    const ws = wsClient(stack.wsUrl, key);
    try {
      for (const [what, text] of operations) {
        const vars = Object.fromEntries(
          Object.entries(variables).filter(([name]) => new RegExp(`\\$${name}\\b`).test(text)),
        );
        const inputType = /\$input: (\w+)!/.exec(text)?.[1];
        if (inputType) vars.input = inputs[inputType];
        if (/^\s*subscription/.test(text)) {
          const c = collect(ws, text, vars);
          await Promise.race([c.done, new Promise((r) => setTimeout(r, 1_000))]);
          const code = (c.error as { extensions?: { code?: string } }[] | undefined)?.[0]?.extensions?.code;
          expect([what, code]).not.toEqual([what, 'QUERY_TOO_COMPLEX']);
          continue;
        }
        const r = await gql(stack.url, key, text, vars);
        // answered, or refused for what they ask (no such job or template), never for their cost
        expect([what, codeOf(r)]).not.toEqual([what, 'QUERY_TOO_COMPLEX']);
        expect([what, r.body.errors?.[0]?.extensions?.reason]).not.toEqual([
          what,
          'GRAPHQL_VALIDATION_FAILED',
        ]);
        if (/^\s*query/.test(text)) expect([what, r.status]).toEqual([what, 200]);
      }
    } finally {
      await ws.dispose();
    }
    expect(operations.length).toBeGreaterThan(12);
  });

  it('follows a hot-reloaded supergraph: its directives are what the next request is counted with', async () => {
    expect(codeOf(await gql(stack.url, key, HEAVY, { n: 100 }))).toBe('QUERY_TOO_COMPLEX');
    const sdl = readFileSync(stack.supergraphPath, 'utf8');
    const lighter = sdl
      .replace(
        '[JobNode!]! @join__field(graph: JOBS) @listSize(assumedSize: 200,',
        '[JobNode!]! @join__field(graph: JOBS) @listSize(assumedSize: 5,',
      )
      .replace(
        'artifacts: [Artifact!]! @join__field(graph: ARTIFACTS) @listSize(assumedSize: 50)',
        'artifacts: [Artifact!]! @join__field(graph: ARTIFACTS) @listSize(assumedSize: 5)',
      );
    expect(lighter.match(/@listSize\(assumedSize: 5\b/g)).toHaveLength(2);
    writeFileSync(stack.supergraphPath, lighter);
    try {
      const deadline = Date.now() + 20_000;
      let r = await gql(stack.url, key, HEAVY, { n: 100 });
      while (r.status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        r = await gql(stack.url, key, HEAVY, { n: 100 });
      }
      // 100 × (edges + node + id + status + nodes (1 + 5 × 3) + artifacts (1 + 5 × 4)) + jobs + edges
      expect([r.status, r.body.errors]).toEqual([200, undefined]);
    } finally {
      writeFileSync(stack.supergraphPath, sdl);
    }
  }, 60_000);
});
