/**
 * A closed-loop HTTP load: `concurrency` lanes each POST one GraphQL request after the other over keep-alive
 * connections for `durationMs`. Every answer must be 200 with data and no errors: the first one that is not
 * fails the run (a benchmark of refused requests measures nothing).
 */
import { performance } from 'node:perf_hooks';
import type { GraphqlHttp } from '../support/graphql-http.js';

export interface GraphQLCall {
  query: string;
  variables?: (i: number) => Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface LoadRun {
  requests: number;
  elapsedMs: number;
  latenciesMs: number[];
}

export async function runClosedLoop(
  client: GraphqlHttp,
  call: GraphQLCall,
  concurrency: number,
  durationMs: number,
): Promise<LoadRun> {
  const latenciesMs: number[] = [];
  let n = 0;
  let failure: unknown;
  const start = performance.now();
  const deadline = start + durationMs;
  const lane = async () => {
    while (failure === undefined && performance.now() < deadline) {
      const i = n++;
      const t0 = performance.now();
      try {
        await client.data(call.query, call.variables?.(i) ?? {}, call.headers);
      } catch (e) {
        failure ??= e;
        return;
      }
      latenciesMs.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  if (failure !== undefined) throw failure;
  return { requests: latenciesMs.length, elapsedMs: performance.now() - start, latenciesMs };
}
