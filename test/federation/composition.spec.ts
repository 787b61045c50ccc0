import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { composeServices } from '@apollo/composition';
import { ROUTER_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph } from '@apollo/federation-internals';
import { parse } from 'graphql';
import { REPO_ROOT } from '#libs/testing';
import { BILLING_SDL } from '../e2e/foreign-router/billing-subgraph.js';

const sdl = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');

const foreign = (jobsSdl = sdl('graphql/jobs.graphql')) =>
  composeServices([
    { name: 'jobs', url: 'http://jobs/graphql', typeDefs: parse(jobsSdl) },
    { name: 'artifacts', url: 'http://artifacts/graphql', typeDefs: parse(sdl('graphql/artifacts.graphql')) },
    { name: 'billing', url: 'http://billing/graphql', typeDefs: parse(BILLING_SDL) },
  ]);

/** The committed SDL as other teams compose it, and the supergraph our own gateway serves. */
describe('federation composition', () => {
  it('our committed subgraph SDL composes with a subgraph that has its own Relay PageInfo and extends Job', () => {
    const result = foreign();
    expect(result.errors ?? []).toEqual([]);
    const supergraph = result.supergraphSdl!;
    // scopes and costs reach the foreign router's supergraph, and a router that enforces them accepts it
    expect(supergraph).toMatch(
      /job\(id: ID!\): Job @join__field\(graph: JOBS\) @requiresScopes\(scopes: \[\["jobs:read"\], \["admin"\]\]\)/,
    );
    expect(supergraph).toMatch(
      /@listSize\(assumedSize: 20, slicingArguments: \["first"\], sizedFields: \["edges"\]/,
    );
    expect(() =>
      Supergraph.build(supergraph, { supportedFeatures: ROUTER_SUPPORTED_SUPERGRAPH_FEATURES }),
    ).not.toThrow();
  });

  it('would not compose without @shareable on our value types (the failure the issue reports)', () => {
    const result = foreign(sdl('graphql/jobs.graphql').replace(/ @shareable/g, ''));
    expect(result.errors?.map((e) => e.message).join('\n')).toMatch(
      /Non-shareable field "PageInfo\.hasNextPage" is resolved from multiple subgraphs/,
    );
  });

  it('our own supergraph loads in @apollo/gateway (no SECURITY features it cannot enforce)', () => {
    const supergraph = sdl('graphql/supergraph.graphql');
    expect(supergraph).not.toMatch(/requiresScopes|@authenticated/);
    expect(() => Supergraph.build(supergraph).subgraphs()).not.toThrow();
  });
});
